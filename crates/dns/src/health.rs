//! Whether a record set's member is healthy: read from the `TargetState` of its health check
//! (an endpoint checker writes it), computed over child checks, or taken from a target group's
//! targets. The data path only reads atomics.

use std::sync::Arc;
use std::time::Instant;

use ballast_balance::{HealthState, TargetState};

/// The health a member follows.
#[derive(Debug, Clone)]
pub enum Health {
    /// No health check: always healthy.
    Always,
    /// A named check, possibly inverted.
    Check(Arc<Check>),
    /// Healthy while one of these targets (a target group's) may take traffic.
    Group(Arc<[Arc<TargetState>]>),
}

/// A named health check as the server reads it.
#[derive(Debug)]
pub struct Check {
    /// Its name (for the admin API).
    pub name: Arc<str>,
    /// What it reads.
    pub source: CheckSource,
    /// Reported the other way round.
    pub invert: bool,
}

/// Where a check's result comes from.
#[derive(Debug)]
pub enum CheckSource {
    /// An endpoint checker's state. A check that has not decided yet counts as healthy,
    /// as a new Route 53 health check does, so a start does not flip answers.
    Endpoint(Arc<TargetState>),
    /// Healthy when at least `threshold` of the children are (each with its own invert).
    Calculated {
        /// The child checks.
        children: Vec<Arc<Check>>,
        /// Healthy children needed.
        threshold: usize,
    },
    /// Healthy while one of the group's targets may take traffic.
    Group(Arc<[Arc<TargetState>]>),
}

impl Health {
    /// Whether the member is healthy at `now`.
    pub fn is_healthy(&self, now: Instant) -> bool {
        match self {
            Self::Always => true,
            Self::Check(check) => check.is_healthy(now),
            Self::Group(targets) => group_healthy(targets, now),
        }
    }
}

/// A target group is healthy while one of its targets may take traffic, or while none has
/// been judged yet (every target still `initial`, as after a start): like a new check, it
/// counts as healthy until it is seen failing.
fn group_healthy(targets: &[Arc<TargetState>], now: Instant) -> bool {
    targets.iter().any(|t| t.is_eligible(now))
        || (!targets.is_empty() && targets.iter().all(|t| t.state() == HealthState::Initial))
}

impl Check {
    /// Whether the check reports healthy at `now` (inverted if so configured).
    pub fn is_healthy(&self, now: Instant) -> bool {
        let raw = match &self.source {
            CheckSource::Endpoint(state) => {
                matches!(state.state(), HealthState::Healthy | HealthState::Initial)
            }
            CheckSource::Calculated {
                children,
                threshold,
            } => children.iter().filter(|c| c.is_healthy(now)).count() >= *threshold,
            CheckSource::Group(targets) => group_healthy(targets, now),
        };
        raw != self.invert
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_balance::HealthReason;

    fn state(s: HealthState) -> Arc<TargetState> {
        Arc::new(TargetState::new(s, HealthReason::None))
    }

    fn check(source: CheckSource, invert: bool) -> Arc<Check> {
        Arc::new(Check {
            name: "c".into(),
            source,
            invert,
        })
    }

    #[test]
    fn endpoint_checks_calculated_checks_inversion_and_groups() {
        let now = Instant::now();
        let up = check(CheckSource::Endpoint(state(HealthState::Healthy)), false);
        let new = check(CheckSource::Endpoint(state(HealthState::Initial)), false);
        let down = check(CheckSource::Endpoint(state(HealthState::Unhealthy)), false);
        assert!(up.is_healthy(now) && new.is_healthy(now) && !down.is_healthy(now));
        let inverted = check(CheckSource::Endpoint(state(HealthState::Unhealthy)), true);
        assert!(inverted.is_healthy(now));
        let children = vec![Arc::clone(&up), Arc::clone(&down)];
        let one = check(
            CheckSource::Calculated {
                children: children.clone(),
                threshold: 1,
            },
            false,
        );
        let two = check(
            CheckSource::Calculated {
                children,
                threshold: 2,
            },
            false,
        );
        assert!(one.is_healthy(now) && !two.is_healthy(now));
        let group: Arc<[Arc<TargetState>]> =
            vec![state(HealthState::Unhealthy), state(HealthState::Healthy)].into();
        assert!(Health::Group(group).is_healthy(now));
        let undecided: Arc<[Arc<TargetState>]> = vec![state(HealthState::Initial)].into();
        assert!(Health::Group(undecided).is_healthy(now), "not judged yet");
        let down: Arc<[Arc<TargetState>]> =
            vec![state(HealthState::Initial), state(HealthState::Unhealthy)].into();
        assert!(!Health::Group(down).is_healthy(now));
        assert!(!Health::Group(Vec::new().into()).is_healthy(now));
        assert!(Health::Always.is_healthy(now));
    }
}
