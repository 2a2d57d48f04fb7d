//! Which targets a pick may choose from, and with what weight.

use crate::{Balancer, PickInput, TargetState};

/// The set of targets one pick chooses among, decided by one pass over the group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidates {
    tier: Tier,
    /// How many targets the tier admits (at least one).
    pub(crate) count: usize,
    /// Their configured weights added up (what a weighted pick spreads over, unless the
    /// weights are scaled by a ramp or mitigation).
    total: u64,
    /// Some candidate is in slow start while another is not: weights are scaled.
    ramping: bool,
    exclude: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    /// Eligible targets in this node's zone.
    Local,
    /// Eligible targets in any zone.
    Eligible,
    /// Every registered target: the group fails open.
    Registered,
}

/// Weights are scaled by this when slow start is under way, so a ramp is smooth.
pub(crate) const RAMP_SCALE: f64 = 1000.0;

impl Candidates {
    /// The candidates of one pick, or `None` when there is nothing to send to.
    pub(crate) fn find<T>(
        balancer: &Balancer,
        targets: &[T],
        state: &impl Fn(&T) -> &TargetState,
        input: &PickInput,
    ) -> Option<Self> {
        // (count, total weight) per tier, in one pass.
        let (mut local, mut eligible, mut registered) = ((0, 0), (0, 0), (0, 0));
        let mut left_eligible = false;
        for (i, target) in targets.iter().enumerate() {
            let s = state(target);
            let is_eligible = s.is_eligible(input.now);
            if input.exclude == Some(i) {
                left_eligible = is_eligible;
                continue;
            }
            let weight = u64::from(balancer.weights.get(i).copied().unwrap_or(1));
            if is_eligible {
                eligible = (eligible.0 + 1, eligible.1 + weight);
                if balancer.local.get(i).copied().unwrap_or(true) {
                    local = (local.0 + 1, local.1 + weight);
                }
            }
            if s.is_registered() {
                registered = (registered.0 + 1, registered.1 + weight);
            }
        }
        let (tier, (count, total)) = if local.0 > 0 {
            (Tier::Local, local)
        } else if eligible.0 > 0 {
            (Tier::Eligible, eligible)
        } else if input.fail_open && !left_eligible && registered.0 > 0 {
            // A retry moving away from the only eligible target does not make the group
            // fail open: the group is not down, one of its targets failed one request.
            (Tier::Registered, registered)
        } else {
            return None;
        };
        let mut candidates = Self {
            tier,
            count,
            total,
            ramping: false,
            exclude: input.exclude,
        };
        if !balancer.options.slow_start.is_zero() {
            candidates.ramping = candidates.some_ramp(balancer, targets, state, input);
        }
        Some(candidates)
    }

    /// Whether target `i` is a candidate.
    pub(crate) fn admits(
        &self,
        balancer: &Balancer,
        i: usize,
        s: &TargetState,
        input: &PickInput,
    ) -> bool {
        if self.exclude == Some(i) {
            return false;
        }
        match self.tier {
            Tier::Local => {
                balancer.local.get(i).copied().unwrap_or(true) && s.is_eligible(input.now)
            }
            Tier::Eligible => s.is_eligible(input.now),
            Tier::Registered => s.is_registered(),
        }
    }

    /// The weight of candidate `i` for this pick: its configured weight, scaled by its slow
    /// start factor while some candidate ramps and another does not.
    pub(crate) fn weight(
        &self,
        balancer: &Balancer,
        i: usize,
        s: &TargetState,
        input: &PickInput,
    ) -> u64 {
        let weight = u64::from(balancer.weights.get(i).copied().unwrap_or(1));
        if balancer.options.anomaly_mitigation {
            // Thousandths of the weight, as mitigation leaves it (and ramped, if so).
            let mitigated = weight * u64::from(s.mitigated_weight());
            if !self.ramping {
                return mitigated.max(1);
            }
            let factor = s.slow_start_factor(input.now, balancer.options.slow_start);
            return ((mitigated as f64 * factor) as u64).max(1);
        }
        if !self.ramping {
            return weight;
        }
        let factor = s.slow_start_factor(input.now, balancer.options.slow_start);
        ((weight as f64 * RAMP_SCALE * factor) as u64).max(1)
    }

    /// The candidates' weights added up, when they are the configured ones (no ramp, no
    /// mitigation): a weighted pick then needs no pass to add them.
    pub(crate) fn plain_total(&self, balancer: &Balancer) -> Option<u64> {
        (!self.ramping && !balancer.options.anomaly_mitigation).then_some(self.total)
    }

    /// Whether some candidate is in slow start while another is not.
    pub(crate) fn ramping(&self) -> bool {
        self.ramping
    }

    /// Whether the weights are all equal for this pick (no ramp, uniform configuration).
    pub(crate) fn uniform(&self, balancer: &Balancer) -> bool {
        balancer.uniform && !self.ramping && !balancer.options.anomaly_mitigation
    }

    /// One candidate ramping while another is at its full share. When every candidate
    /// ramps (they all just became healthy) nobody is held back.
    fn some_ramp<T>(
        &self,
        balancer: &Balancer,
        targets: &[T],
        state: &impl Fn(&T) -> &TargetState,
        input: &PickInput,
    ) -> bool {
        let (mut full, mut partial) = (false, false);
        for (i, target) in targets.iter().enumerate() {
            let s = state(target);
            if !self.admits(balancer, i, s, input) {
                continue;
            }
            if s.slow_start_factor(input.now, balancer.options.slow_start) < 1.0 {
                partial = true;
            } else {
                full = true;
            }
            if full && partial {
                return true;
            }
        }
        false
    }
}
