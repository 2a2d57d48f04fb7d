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
mod tests {
    use super::*;
    use ballast_balance::HealthReason;

    fn config() -> OutlierDetectionConfig {
        OutlierDetectionConfig {
            enabled: true,
            consecutive_failures: 3,
            base_ejection_time: Duration::from_secs(10),
            max_ejection_time: Duration::from_secs(25),
            max_ejection_percent: 50,
        }
    }

    fn targets(n: usize) -> Vec<(SocketAddr, TargetState)> {
        (0..n)
            .map(|i| {
                let addr: SocketAddr = format!("127.0.0.1:{}", 1000 + i).parse().unwrap();
                (
                    addr,
                    TargetState::new(HealthState::Healthy, HealthReason::None),
                )
            })
            .collect()
    }

    fn view(t: &[(SocketAddr, TargetState)]) -> Vec<(SocketAddr, &TargetState)> {
        t.iter().map(|(a, s)| (*a, s)).collect()
    }

    fn fail(state: &TargetState, n: u32) {
        for _ in 0..n {
            state.record_outcome(false);
        }
    }

    #[test]
    fn consecutive_failures_eject_and_the_target_returns_after_its_time() {
        let t = targets(4);
        let mut d = OutlierDetector::new(config());
        let now = Instant::now();
        fail(&t[0].1, 2);
        assert!(
            d.evaluate(&view(&t), now).is_empty(),
            "two failures are not enough"
        );
        t[0].1.record_outcome(true);
        fail(&t[0].1, 3);
        let events = d.evaluate(&view(&t), now);
        assert_eq!(
            events,
            vec![OutlierEvent::Ejected {
                address: t[0].0,
                duration: Duration::from_secs(10),
                count: 1
            }]
        );
        assert!(!t[0].1.is_eligible(now + Duration::from_secs(9)));
        let later = now + Duration::from_secs(10);
        assert_eq!(
            d.evaluate(&view(&t), later),
            vec![OutlierEvent::Returned { address: t[0].0 }]
        );
        assert!(t[0].1.is_eligible(later));
    }

    #[test]
    fn repeated_ejections_grow_up_to_the_cap_and_are_forgiven_after_a_quiet_while() {
        let t = targets(2);
        let mut d = OutlierDetector::new(config());
        let mut now = Instant::now();
        let mut durations = Vec::new();
        for _ in 0..3 {
            fail(&t[0].1, 3);
            for e in d.evaluate(&view(&t), now) {
                if let OutlierEvent::Ejected { duration, .. } = e {
                    durations.push(duration);
                }
            }
            now += Duration::from_secs(30);
            d.evaluate(&view(&t), now);
        }
        assert_eq!(durations, [10, 20, 25].map(Duration::from_secs));
        // Back and quiet for a base ejection time: the next ejection starts small again.
        now += Duration::from_secs(10);
        d.evaluate(&view(&t), now);
        fail(&t[0].1, 3);
        let events = d.evaluate(&view(&t), now);
        assert!(
            matches!(events[0], OutlierEvent::Ejected { count: 1, .. }),
            "{events:?}"
        );
    }

    #[test]
    fn at_most_the_allowed_share_is_ejected_and_always_at_least_one() {
        let t = targets(4);
        let mut d = OutlierDetector::new(config());
        let now = Instant::now();
        for (_, s) in &t {
            fail(s, 5);
        }
        let ejected = d.evaluate(&view(&t), now).len();
        assert_eq!(ejected, 2, "50 % of 4");
        let one = targets(1);
        fail(&one[0].1, 3);
        assert_eq!(
            OutlierDetector::new(config())
                .evaluate(&view(&one), now)
                .len(),
            1
        );
    }

    #[test]
    fn failures_of_requests_in_flight_during_an_ejection_do_not_eject_again() {
        let t = targets(2);
        let mut d = OutlierDetector::new(config());
        let now = Instant::now();
        fail(&t[0].1, 3);
        assert_eq!(d.evaluate(&view(&t), now).len(), 1);
        // Requests that were already running when it was ejected time out meanwhile.
        fail(&t[0].1, 5);
        let back = now + Duration::from_secs(10);
        assert_eq!(
            d.evaluate(&view(&t), back),
            vec![OutlierEvent::Returned { address: t[0].0 }]
        );
        assert!(t[0].1.is_eligible(back));
    }

    #[test]
    fn only_targets_that_take_traffic_use_up_ejection_slots() {
        let t = targets(2);
        t[0].1
            .set_state(HealthState::Unhealthy, HealthReason::Timeout);
        let mut d = OutlierDetector::new(config());
        fail(&t[0].1, 5);
        fail(&t[1].1, 5);
        let events = d.evaluate(&view(&t), Instant::now());
        assert_eq!(
            events,
            vec![OutlierEvent::Ejected {
                address: t[1].0,
                duration: Duration::from_secs(10),
                count: 1
            }]
        );
    }

    #[test]
    fn disabled_detection_never_ejects() {
        let t = targets(2);
        let mut d = OutlierDetector::new(OutlierDetectionConfig {
            enabled: false,
            ..config()
        });
        fail(&t[0].1, 10);
        assert!(d.evaluate(&view(&t), Instant::now()).is_empty());
    }
}
