//! Anomaly mitigation for `weighted_random` (ALB's automatic target weights): a target
//! whose error rate stands out from its peers' gets a smaller weight, halved at every
//! evaluation while it stays anomalous, and earns it back, doubling, once it is normal.
//!
//! Detection is independent of health checks (an anomalous target may well pass them) and,
//! as on ALB, needs at least three targets with traffic to compare. ALB does not publish its
//! statistics; ours: over the last evaluation window, a target with at least
//! [`MIN_REQUESTS`] requests is anomalous when its error rate is at least twice the median
//! of the group's and at least [`MIN_EXCESS`] above it. Pure: the control plane calls
//! [`AnomalyDetector::evaluate`] every [`EVALUATION_INTERVAL`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::target_state::FULL_WEIGHT;
use crate::TargetState;

/// How often the control plane evaluates a group (ALB: every 5 s).
pub const EVALUATION_INTERVAL: Duration = Duration::from_secs(5);

/// Requests a target needs in a window for its error rate to count.
pub(crate) const MIN_REQUESTS: u64 = 20;

/// How far above the median error rate an anomalous target must be (10 points).
pub(crate) const MIN_EXCESS: f64 = 0.10;

/// Lowest share of its weight mitigation leaves a target (1 %): it still gets probes, so
/// its recovery can be seen.
const FLOOR: u32 = 10;

/// What an evaluation changed, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyEvent {
    /// The target at this index is anomalous; its weight is now this many thousandths.
    Mitigated {
        /// Index among the targets evaluated.
        index: usize,
        /// Weight left, in thousandths of its configured weight.
        weight_permille: u32,
    },
    /// The target at this index is back to its full weight.
    Recovered {
        /// Index among the targets evaluated.
        index: usize,
    },
}

/// Per-group memory of the counters at the last evaluation.
#[derive(Debug, Default)]
pub struct AnomalyDetector {
    last: Vec<(u64, u64)>,
}

impl AnomalyDetector {
    /// A detector with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// One evaluation over the group's `targets` (same order every call; a change of
    /// length starts the history over). Adjusts their mitigated weights.
    pub fn evaluate(&mut self, targets: &[&TargetState]) -> Vec<AnomalyEvent> {
        let now: Vec<(u64, u64)> = targets
            .iter()
            .map(|t| (t.requests(), t.failures()))
            .collect();
        let previous = std::mem::replace(&mut self.last, now.clone());
        if previous.len() != now.len() {
            return Vec::new();
        }
        let rates: Vec<Option<f64>> = now
            .iter()
            .zip(&previous)
            .map(|(&(r, f), &(r0, f0))| {
                let requests = r.saturating_sub(r0);
                (requests >= MIN_REQUESTS).then(|| f.saturating_sub(f0) as f64 / requests as f64)
            })
            .collect();
        let mut known: Vec<f64> = rates.iter().flatten().copied().collect();
        if known.len() < 3 {
            return Vec::new();
        }
        known.sort_by(f64::total_cmp);
        let median = known[known.len() / 2];
        let mut events = Vec::new();
        for (index, (target, rate)) in targets.iter().zip(&rates).enumerate() {
            let anomalous = rate.is_some_and(|r| r >= 2.0 * median && r >= median + MIN_EXCESS);
            let weight = target.mitigated_weight.load(Ordering::Relaxed);
            let next = if anomalous {
                (weight / 2).max(FLOOR)
            } else {
                (weight * 2).min(FULL_WEIGHT)
            };
            if next == weight {
                continue;
            }
            target.mitigated_weight.store(next, Ordering::Relaxed);
            events.push(if anomalous {
                AnomalyEvent::Mitigated {
                    index,
                    weight_permille: next,
                }
            } else if next == FULL_WEIGHT {
                AnomalyEvent::Recovered { index }
            } else {
                continue;
            });
        }
        events
    }
}

impl TargetState {
    /// The share of its weight anomaly mitigation leaves the target, in thousandths.
    pub fn mitigated_weight(&self) -> u32 {
        self.mitigated_weight.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HealthReason, HealthState};

    fn serve(target: &TargetState, requests: u32, failures: u32) {
        for i in 0..requests {
            target.requests.fetch_add(1, Ordering::Relaxed);
            target.record_outcome(i >= failures);
        }
    }

    #[test]
    fn an_outlier_is_halved_each_round_and_doubles_back_once_normal() {
        let group: Vec<TargetState> = (0..4)
            .map(|_| TargetState::new(HealthState::Healthy, HealthReason::None))
            .collect();
        let view: Vec<&TargetState> = group.iter().collect();
        let mut detector = AnomalyDetector::new();
        assert!(
            detector.evaluate(&view).is_empty(),
            "first call only records"
        );
        let mut weights = Vec::new();
        for _ in 0..3 {
            serve(&group[0], 100, 50);
            for t in &group[1..] {
                serve(t, 100, 1);
            }
            detector.evaluate(&view);
            weights.push(group[0].mitigated_weight());
        }
        assert_eq!(weights, [500, 250, 125]);
        assert!(group[1..]
            .iter()
            .all(|t| t.mitigated_weight() == FULL_WEIGHT));
        let mut back = Vec::new();
        for _ in 0..3 {
            for t in &group {
                serve(t, 100, 1);
            }
            detector.evaluate(&view);
            back.push(group[0].mitigated_weight());
        }
        assert_eq!(back, [250, 500, 1000]);
    }

    #[test]
    fn too_little_traffic_or_too_few_peers_decides_nothing() {
        let group: Vec<TargetState> = (0..3)
            .map(|_| TargetState::new(HealthState::Healthy, HealthReason::None))
            .collect();
        let view: Vec<&TargetState> = group.iter().collect();
        let mut detector = AnomalyDetector::new();
        detector.evaluate(&view);
        serve(&group[0], 10, 10);
        serve(&group[1], 10, 0);
        serve(&group[2], 10, 0);
        assert!(detector.evaluate(&view).is_empty());
        let two = &view[..2];
        let mut detector = AnomalyDetector::new();
        detector.evaluate(two);
        serve(&group[0], 100, 100);
        serve(&group[1], 100, 0);
        assert!(detector.evaluate(two).is_empty());
    }

    #[test]
    fn a_group_failing_alike_is_not_anomalous() {
        let group: Vec<TargetState> = (0..3)
            .map(|_| TargetState::new(HealthState::Healthy, HealthReason::None))
            .collect();
        let view: Vec<&TargetState> = group.iter().collect();
        let mut detector = AnomalyDetector::new();
        detector.evaluate(&view);
        for t in &group {
            serve(t, 100, 40);
        }
        assert!(detector.evaluate(&view).is_empty());
    }
}
