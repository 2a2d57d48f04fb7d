//! Several policies on one group, combined as ASG combines them: a scale-out wins over
//! everything and the largest capacity asked for is taken; a scale-in happens only when no
//! policy wants more, every target tracking policy that may scale in agrees, and then the
//! proposal that leaves the most instances is taken.

use crate::group::{GroupView, Proposal};

/// What kind of policy an offer came from (target tracking policies must agree on a
/// scale-in; the others need not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A target tracking policy; `scales_in` is false with `disable_scale_in`.
    TargetTracking {
        /// False with `disable_scale_in`.
        scales_in: bool,
    },
    /// Step, simple or predictive.
    Other,
}

/// One policy's say in a decision.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The kind of policy that made it.
    pub role: Role,
    /// What it proposes, if anything.
    pub proposal: Option<Proposal>,
}

/// The decision: the index of the winning offer and its proposal, or `None` for no change.
pub fn combine(group: &GroupView, offers: &[Offer]) -> Option<(usize, Proposal)> {
    let best = |want: &dyn Fn(&Proposal) -> bool| {
        offers
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.proposal.as_ref().filter(|p| want(p)).map(|p| (i, p)))
            .max_by_key(|(_, p)| p.desired)
            .map(|(i, p)| (i, p.clone()))
    };
    if let Some(out) = best(&|p| p.desired > group.desired) {
        return Some(out);
    }
    let tracking_agrees = offers.iter().all(|o| match o.role {
        Role::TargetTracking { scales_in: true } => o
            .proposal
            .as_ref()
            .is_some_and(|p| p.desired < group.desired),
        _ => true,
    });
    if !tracking_agrees {
        return None;
    }
    best(&|p| p.desired < group.desired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::Bounds;

    fn offer(role: Role, desired: Option<u32>) -> Offer {
        Offer {
            role,
            proposal: desired.map(|desired| Proposal {
                desired,
                reason: String::new(),
            }),
        }
    }

    const TT: Role = Role::TargetTracking { scales_in: true };
    const TT_OUT_ONLY: Role = Role::TargetTracking { scales_in: false };

    fn group(desired: u32) -> GroupView {
        GroupView {
            desired,
            warming: 0,
            bounds: Bounds { min: 0, max: 50 },
        }
    }

    fn winner(desired: u32, offers: &[Offer]) -> Option<(usize, u32)> {
        combine(&group(desired), offers).map(|(i, p)| (i, p.desired))
    }

    #[test]
    fn the_largest_scale_out_wins_over_any_scale_in() {
        let offers = [
            offer(TT, Some(7)),
            offer(Role::Other, Some(2)),
            offer(TT, Some(9)),
        ];
        assert_eq!(winner(5, &offers), Some((2, 9)));
    }

    #[test]
    fn a_scale_in_needs_every_tracking_policy_and_leaves_the_most() {
        assert_eq!(
            winner(5, &[offer(TT, Some(3)), offer(TT, Some(4))]),
            Some((1, 4))
        );
        assert_eq!(winner(5, &[offer(TT, Some(3)), offer(TT, None)]), None);
        // A policy that never scales in does not hold the others back.
        assert_eq!(
            winner(5, &[offer(TT, Some(3)), offer(TT_OUT_ONLY, None)]),
            Some((0, 3))
        );
        // Step and simple policies scale in on their own.
        assert_eq!(winner(5, &[offer(Role::Other, Some(2))]), Some((0, 2)));
        assert_eq!(winner(5, &[]), None);
        assert_eq!(winner(5, &[offer(TT, Some(5))]), None);
    }
}
