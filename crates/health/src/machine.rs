//! The health state machine of one target: thresholds of passes and failures in a row.

use ballast_balance::{HealthReason, HealthState};

use crate::check::CheckOutcome;

/// Counts passes and failures in a row and decides when a target changes state, as a cloud
/// load balancer does: `healthy_threshold` passes make it healthy, `unhealthy_threshold`
/// failures make it unhealthy. A registered target starts `initial`.
#[derive(Debug, Clone)]
pub struct HealthMachine {
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    passes: u32,
    failures: u32,
}

impl HealthMachine {
    /// A machine with these thresholds (each at least 1).
    pub fn new(healthy_threshold: u32, unhealthy_threshold: u32) -> Self {
        Self {
            healthy_threshold: healthy_threshold.max(1),
            unhealthy_threshold: unhealthy_threshold.max(1),
            passes: 0,
            failures: 0,
        }
    }

    /// Feeds one check result for a target now in `current`; returns the state it must move
    /// to (with the reason), if any. Draining and unused targets are left alone.
    pub fn observe(
        &mut self,
        current: HealthState,
        outcome: CheckOutcome,
    ) -> Option<(HealthState, HealthReason)> {
        if matches!(current, HealthState::Draining | HealthState::Unused) {
            return None;
        }
        match outcome {
            CheckOutcome::Pass => {
                self.failures = 0;
                self.passes = self.passes.saturating_add(1);
                (current != HealthState::Healthy && self.passes >= self.healthy_threshold)
                    .then_some((HealthState::Healthy, HealthReason::None))
            }
            CheckOutcome::Fail(reason) => {
                self.passes = 0;
                self.failures = self.failures.saturating_add(1);
                (current != HealthState::Unhealthy && self.failures >= self.unhealthy_threshold)
                    .then_some((HealthState::Unhealthy, reason))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAIL: CheckOutcome = CheckOutcome::Fail(HealthReason::Timeout);

    fn run(
        machine: &mut HealthMachine,
        mut state: HealthState,
        outcomes: &[CheckOutcome],
    ) -> Vec<HealthState> {
        outcomes
            .iter()
            .map(|o| {
                if let Some((next, _)) = machine.observe(state, *o) {
                    state = next;
                }
                state
            })
            .collect()
    }

    #[test]
    fn initial_becomes_healthy_after_threshold_passes_in_a_row() {
        use HealthState::*;
        let mut m = HealthMachine::new(3, 2);
        let states = run(
            &mut m,
            Initial,
            &[
                CheckOutcome::Pass,
                CheckOutcome::Pass,
                FAIL,
                CheckOutcome::Pass,
                CheckOutcome::Pass,
                CheckOutcome::Pass,
            ],
        );
        assert_eq!(
            states,
            [Initial, Initial, Initial, Initial, Initial, Healthy]
        );
    }

    #[test]
    fn healthy_becomes_unhealthy_after_threshold_failures_and_back() {
        use HealthState::*;
        let mut m = HealthMachine::new(2, 2);
        let states = run(
            &mut m,
            Healthy,
            &[
                FAIL,
                CheckOutcome::Pass,
                FAIL,
                FAIL,
                CheckOutcome::Pass,
                CheckOutcome::Pass,
            ],
        );
        assert_eq!(
            states,
            [Healthy, Healthy, Healthy, Unhealthy, Unhealthy, Healthy]
        );
    }

    #[test]
    fn reason_of_the_failure_is_reported() {
        let mut m = HealthMachine::new(1, 1);
        let next = m.observe(
            HealthState::Healthy,
            CheckOutcome::Fail(HealthReason::ResponseCodeMismatch),
        );
        assert_eq!(
            next,
            Some((HealthState::Unhealthy, HealthReason::ResponseCodeMismatch))
        );
    }

    #[test]
    fn draining_targets_are_not_touched() {
        let mut m = HealthMachine::new(1, 1);
        assert_eq!(m.observe(HealthState::Draining, CheckOutcome::Pass), None);
        assert_eq!(m.observe(HealthState::Unused, FAIL), None);
    }

    /// Seeded simulation: whatever the sequence, the state only changes after a full run of
    /// `threshold` identical outcomes, and always ends where the last run points.
    #[test]
    fn simulation_respects_thresholds_for_many_seeds() {
        for seed in 0..200u64 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let (healthy, unhealthy) = (rng.u32(1..6), rng.u32(1..6));
            let mut m = HealthMachine::new(healthy, unhealthy);
            let mut state = HealthState::Initial;
            let (mut passes, mut fails) = (0u32, 0u32);
            for _ in 0..200 {
                let pass = rng.bool();
                let outcome = if pass { CheckOutcome::Pass } else { FAIL };
                if pass {
                    passes += 1;
                    fails = 0
                } else {
                    fails += 1;
                    passes = 0
                }
                if let Some((next, _)) = m.observe(state, outcome) {
                    match next {
                        HealthState::Healthy => assert!(passes >= healthy, "seed {seed}"),
                        HealthState::Unhealthy => assert!(fails >= unhealthy, "seed {seed}"),
                        other => panic!("seed {seed}: unexpected {other:?}"),
                    }
                    state = next;
                }
                if passes >= healthy {
                    assert_eq!(state, HealthState::Healthy, "seed {seed}");
                }
                if fails >= unhealthy {
                    assert_eq!(state, HealthState::Unhealthy, "seed {seed}");
                }
            }
        }
    }
}
