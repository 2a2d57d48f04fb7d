//! Passive health: ejecting targets that fail real traffic (outlier detection).
//!
//! The data plane only counts failures in a row per target (`TargetState::record_outcome`);
//! this pure evaluator, run on the control plane's tick, decides ejections from those
//! counters, bounded by the share of the group that may be out at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ballast_balance::{HealthState, TargetState};
use ballast_config::OutlierDetectionConfig;

/// Something the evaluator did, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutlierEvent {
    /// The target was ejected for this long (its n-th ejection in a row).
    Ejected {
        /// The target.
        address: SocketAddr,
        /// Length of this ejection.
        duration: Duration,
        /// Ejections in a row, this one included.
        count: u32,
    },
    /// The target's ejection ended; it takes traffic again.
    Returned {
        /// The target.
        address: SocketAddr,
    },
}

/// Outlier detection for one target group; remembers when targets came back so repeated
/// ejections can grow and, after a quiet while, be forgiven.
#[derive(Debug)]
pub struct OutlierDetector {
    config: OutlierDetectionConfig,
    returned_at: HashMap<SocketAddr, Instant>,
}

impl OutlierDetector {
    /// A detector with these settings.
    pub fn new(config: OutlierDetectionConfig) -> Self {
        Self {
            config,
            returned_at: HashMap::new(),
        }
    }

    /// Takes new settings (a reload), keeping what it remembers of the targets.
    pub fn reconfigure(&mut self, config: &OutlierDetectionConfig) {
        if &self.config != config {
            self.config = config.clone();
        }
    }

    /// One evaluation at `now` over the group's targets; applies ejections and returns
    /// what happened.
    pub fn evaluate(
        &mut self,
        targets: &[(SocketAddr, &TargetState)],
        now: Instant,
    ) -> Vec<OutlierEvent> {
        let mut events = Vec::new();
        if !self.config.enabled {
            return events;
        }
        for (address, state) in targets {
            if state.end_ejection_if_over(now) {
                self.returned_at.insert(*address, now);
                events.push(OutlierEvent::Returned { address: *address });
            } else if state.ejections() > 0 && !state.is_ejected(now) {
                // Back before its time: a passing health check lifted the ejection (the
                // checker logs that). Its quiet while counts from the first tick that sees it.
                self.returned_at.entry(*address).or_insert(now);
            }
            // Back long enough without failing again: past ejections are forgiven.
            let quiet = self.returned_at.get(address).is_some_and(|at| {
                now.saturating_duration_since(*at) >= self.config.base_ejection_time
            });
            if quiet && state.consecutive_failures() == 0 && state.ejections() > 0 {
                state.forgive_ejections();
                self.returned_at.remove(address);
            }
        }
        let registered = targets.iter().filter(|(_, s)| s.is_registered()).count();
        let allowed = if self.config.max_ejection_percent == 0 {
            0
        } else {
            (registered * self.config.max_ejection_percent as usize / 100).max(1)
        };
        let mut ejected = targets.iter().filter(|(_, s)| s.is_ejected(now)).count();
        for (address, state) in targets {
            if ejected >= allowed {
                break;
            }
            let failing = state.consecutive_failures() >= self.config.consecutive_failures;
            // Only a target that would otherwise take traffic is worth an ejection slot.
            let serving = state.state() == HealthState::Healthy;
            if failing && serving && !state.is_ejected(now) {
                let count = state.ejections() + 1;
                let duration = self
                    .config
                    .base_ejection_time
                    .saturating_mul(count)
                    .min(self.config.max_ejection_time);
                state.eject(now, duration);
                self.returned_at.remove(address);
                ejected += 1;
                events.push(OutlierEvent::Ejected {
                    address: *address,
                    duration,
                    count,
                });
            }
        }
        events
    }
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
