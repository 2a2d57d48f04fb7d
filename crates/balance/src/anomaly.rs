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

use std::collections::HashMap;
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

/// Per-group memory: each target's counters when its current window began, keyed by the
/// target's identity (its `TargetState` lives across reloads, whatever its position; a new
/// target never inherits a removed one's window).
#[derive(Debug, Default)]
pub struct AnomalyDetector {
    windows: HashMap<u64, (u64, u64)>,
}

impl AnomalyDetector {
    /// A detector with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// One evaluation over the group's `targets`; adjusts their mitigated weights.
    ///
    /// A target's window lasts until it has [`MIN_REQUESTS`] requests, so a target whose
    /// weight was lowered (and gets little traffic) is still judged, over a longer window.
    /// A target without enough requests keeps its weight. New mitigation needs three targets
    /// to compare; recovery does not.
    pub fn evaluate(&mut self, targets: &[&TargetState]) -> Vec<AnomalyEvent> {
        let rates: Vec<Option<f64>> = targets.iter().map(|t| self.window(t)).collect();
        self.windows
            .retain(|id, _| targets.iter().any(|t| t.id() == *id));
        let mut known: Vec<f64> = rates.iter().flatten().copied().collect();
        known.sort_by(f64::total_cmp);
        let median = (known.len() >= 3).then(|| known[known.len() / 2]);
        let mut events = Vec::new();
        for (index, (target, rate)) in targets.iter().zip(&rates).enumerate() {
            let Some(rate) = *rate else { continue };
            let anomalous = median.is_some_and(|m| rate >= 2.0 * m && rate >= m + MIN_EXCESS);
            // Without peers to compare, only a clearly normal target recovers.
            let normal = match median {
                Some(_) => !anomalous,
                None => rate < MIN_EXCESS,
            };
            let weight = target.mitigated_weight.load(Ordering::Relaxed);
            let next = if anomalous {
                (weight / 2).max(FLOOR)
            } else if normal {
                (weight * 2).min(FULL_WEIGHT)
            } else {
                weight
            };
            if next == weight {
                continue;
            }
            target.mitigated_weight.store(next, Ordering::Relaxed);
            if anomalous {
                events.push(AnomalyEvent::Mitigated {
                    index,
                    weight_permille: next,
                });
            } else if next == FULL_WEIGHT {
                events.push(AnomalyEvent::Recovered { index });
            }
        }
        events
    }

    /// The error rate of the target's finished window, starting a new one; `None` while the
    /// window has too few requests (or the target is new to this detector).
    fn window(&mut self, target: &TargetState) -> Option<f64> {
        let now = (target.requests(), target.failures());
        let start = self.windows.entry(target.id()).or_insert(now);
        let requests = now.0.saturating_sub(start.0);
        if requests < MIN_REQUESTS {
            return None;
        }
        let failures = now.1.saturating_sub(start.1);
        *start = now;
        Some(failures as f64 / requests as f64)
    }
}

impl TargetState {
    /// The share of its weight anomaly mitigation leaves the target, in thousandths.
    pub fn mitigated_weight(&self) -> u32 {
        self.mitigated_weight.load(Ordering::Relaxed)
    }

    /// Gives the target its full weight back (mitigation was turned off).
    pub fn reset_mitigation(&self) {
        self.mitigated_weight.store(FULL_WEIGHT, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
