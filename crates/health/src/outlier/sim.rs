//! Seeded simulation of outlier detection: a thousand random histories of one group in
//! virtual time (traffic that fails or succeeds, health changes with the checker's ejection
//! lift, reconfigurations, ticks of any length), checked at every tick against what
//! `docs/target-health.md` and `docs/config.md` promise:
//!
//! - never more than `max_ejection_percent` of the registered targets ejected at once
//!   (rounded down, at least one; `0` ejects none), and a disabled detector ejects nothing;
//! - only a `healthy`, not ejected target is ejected, and only for `consecutive_failures`
//!   failures in a row counted since it last came back: failures of requests that were in
//!   flight during an ejection are forgotten when it returns, however it returns;
//! - while there is room under the cap, no such failing target is left in rotation;
//! - the n-th ejection in a row lasts n × `base_ejection_time`, at most `max_ejection_time`;
//!   a target back for `base_ejection_time` without failing starts again from one;
//! - an ejected target takes no traffic before its ejection time is over, and comes back
//!   (with a `Returned` event) at the first evaluation after it, unless a passing health
//!   check lifted it earlier.
//!
//! Replay a failing history with `SIM_SEED=<seed> cargo test -p ballast-health outlier`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ballast_balance::{HealthReason, HealthState, TargetState};
use ballast_config::OutlierDetectionConfig;
use ballast_testkit::sim::{simulate, Trace};

use super::{OutlierDetector, OutlierEvent};

const HISTORIES: u64 = 1000;
const STEPS: usize = 200;
/// The control plane's tick.
const TICK: Duration = Duration::from_millis(100);

/// What the documentation says a target's outlier state should be.
#[derive(Debug, Clone, Default)]
struct Expected {
    /// Failures in a row that count towards an ejection.
    failures: u32,
    /// End of the running ejection.
    ejected_until: Option<Duration>,
    /// Ejections in a row (the count of the last one; 0 once forgiven).
    in_a_row: u32,
    /// When the detector first saw it back after its last ejection.
    back_since: Option<Duration>,
    /// It came back early (a health check lifted the ejection) and the detector has not
    /// looked since.
    lifted: bool,
}

struct Group {
    t0: Instant,
    addresses: Vec<SocketAddr>,
    states: Vec<TargetState>,
    expected: Vec<Expected>,
    /// Chance in 100 that a request to each target fails (its behaviour of the moment).
    failure_rate: Vec<u32>,
}

#[test]
fn outlier_detection_keeps_its_promises_in_random_histories() {
    simulate("outlier detection", HISTORIES, |rng, trace| {
        let mut config = random_config(rng);
        trace.note(format!("{config:?}"));
        let mut group = Group::new(rng, Instant::now());
        let mut detector = OutlierDetector::new(config.clone());
        let mut now = Duration::ZERO;
        for step in 0..STEPS {
            trace.step(step);
            for _ in 0..rng.usize(0..4) {
                group.act(rng, trace, now);
            }
            if rng.u32(..100) == 0 {
                config = OutlierDetectionConfig {
                    enabled: config.enabled,
                    ..random_config(rng)
                };
                detector.reconfigure(&config);
                trace.note(format!("reconfigured: {config:?}"));
            }
            now += match rng.u32(..10) {
                0..=6 => TICK,
                7 | 8 => millis(rng.u64(1..=ms(config.base_ejection_time))),
                _ => millis(rng.u64(1..=3 * ms(config.max_ejection_time))),
            };
            group.check_ejections_hold(now);
            group.evaluate(&mut detector, &config, now, trace);
        }
    });
}

fn random_config(rng: &mut fastrand::Rng) -> OutlierDetectionConfig {
    let base = millis(rng.u64(100..=30_000));
    let any_percent = rng.u32(0..=100);
    OutlierDetectionConfig {
        enabled: rng.u32(..20) != 0,
        consecutive_failures: rng.u32(1..=5),
        base_ejection_time: base,
        max_ejection_time: base * rng.u32(1..=8) + millis(rng.u64(0..1000)),
        max_ejection_percent: *rng
            .choice(&[0, 1, 10, 20, 33, 50, 50, 75, 100, any_percent])
            .unwrap_or(&50),
    }
}

// === impl Group ===

impl Group {
    fn new(rng: &mut fastrand::Rng, t0: Instant) -> Self {
        let n = rng.usize(1..=8);
        Self {
            t0,
            addresses: (0..n)
                .map(|i| SocketAddr::from(([127, 0, 0, 1], 9000 + i as u16)))
                .collect(),
            states: (0..n)
                .map(|_| TargetState::new_at(HealthState::Healthy, HealthReason::None, t0))
                .collect(),
            expected: vec![Expected::default(); n],
            failure_rate: (0..n).map(|_| random_rate(rng)).collect(),
        }
    }

    /// One thing happening to one target: traffic (including requests still in flight on
    /// an ejected target), a health change, or a change of behaviour.
    fn act(&mut self, rng: &mut fastrand::Rng, trace: &Trace, now: Duration) {
        let i = rng.usize(..self.states.len());
        let (state, expected) = (&self.states[i], &mut self.expected[i]);
        match rng.u32(..10) {
            0..=6 => {
                for _ in 0..rng.u32(1..=6) {
                    let success = rng.u32(..100) >= self.failure_rate[i];
                    state.record_outcome(success);
                    expected.failures = if success { 0 } else { expected.failures + 1 };
                }
                trace.note(format!(
                    "target {i}: traffic, {} in a row",
                    expected.failures
                ));
            }
            7 | 8 => {
                let to = *rng
                    .choice(&[
                        HealthState::Healthy,
                        HealthState::Healthy,
                        HealthState::Unhealthy,
                        HealthState::Initial,
                        HealthState::Draining,
                        HealthState::Unused,
                    ])
                    .unwrap_or(&HealthState::Healthy);
                let at = self.t0 + now;
                let changed = state.set_state(to, HealthReason::None, at).is_some();
                // The health checker lifts a running ejection when checks pass again.
                if changed && to == HealthState::Healthy && rng.bool() {
                    let lifted = state.lift_ejection(at);
                    let running = expected.ejected_until.is_some_and(|end| now < end);
                    assert_eq!(lifted, running, "target {i}: {expected:?}");
                    if lifted {
                        expected.ejected_until = None;
                        expected.failures = 0;
                        expected.lifted = true;
                    }
                    trace.note(format!("target {i}: healthy, ejection lifted: {lifted}"));
                } else {
                    trace.note(format!("target {i}: {}", to.as_str()));
                }
            }
            _ => {
                self.failure_rate[i] = random_rate(rng);
                trace.note(format!("target {i}: fails {}%", self.failure_rate[i]));
            }
        }
    }

    /// Between evaluations the data plane sees each ejection exactly as long as it lasts.
    fn check_ejections_hold(&self, now: Duration) {
        for (i, (state, expected)) in self.states.iter().zip(&self.expected).enumerate() {
            let running = expected.ejected_until.is_some_and(|end| now < end);
            assert_eq!(
                state.is_ejected(self.t0 + now),
                running,
                "target {i} at {now:?}: {expected:?}"
            );
        }
    }

    fn evaluate(
        &mut self,
        detector: &mut OutlierDetector,
        config: &OutlierDetectionConfig,
        now: Duration,
        trace: &Trace,
    ) {
        let at = self.t0 + now;
        let registered = self.states.iter().filter(|s| s.is_registered()).count();
        let allowed = match config.max_ejection_percent {
            0 => 0,
            percent => (registered * percent as usize / 100).max(1),
        };
        let out_before = self.states.iter().filter(|s| s.is_ejected(at)).count();
        let view: Vec<(SocketAddr, &TargetState)> =
            self.addresses.iter().copied().zip(&self.states).collect();
        let events = detector.evaluate(&view, at);
        trace.note(format!("evaluated at {now:?}: {events:?}"));
        if !config.enabled {
            assert!(events.is_empty(), "a disabled detector acted: {events:?}");
            return;
        }
        self.expect_returns(&events, config, now);
        let mut ejected = 0;
        for event in &events {
            if let OutlierEvent::Ejected {
                address,
                duration,
                count,
            } = event
            {
                ejected += 1;
                self.expect_ejection(*address, *duration, *count, config, now);
            }
        }
        let out_after = self.states.iter().filter(|s| s.is_ejected(at)).count();
        assert!(
            ejected == 0 || out_after <= allowed,
            "{out_after} ejected of {registered} registered, {allowed} allowed"
        );
        assert!(out_after <= out_before.max(allowed));
        if out_after < allowed {
            for (i, (state, expected)) in self.states.iter().zip(&self.expected).enumerate() {
                let due = state.state() == HealthState::Healthy
                    && !state.is_ejected(at)
                    && expected.failures >= config.consecutive_failures;
                assert!(!due, "target {i} fails {expected:?} yet stays in rotation");
            }
        }
    }

    /// Ejections over by `now` end at this evaluation, and only those; a target back for a
    /// base ejection time without failing has its ejections forgiven.
    fn expect_returns(
        &mut self,
        events: &[OutlierEvent],
        config: &OutlierDetectionConfig,
        now: Duration,
    ) {
        for (i, expected) in self.expected.iter_mut().enumerate() {
            let returned = events.contains(&OutlierEvent::Returned {
                address: self.addresses[i],
            });
            let due = expected.ejected_until.is_some_and(|end| now >= end);
            assert_eq!(returned, due, "target {i}: {expected:?}");
            if due {
                expected.ejected_until = None;
                expected.failures = 0;
                expected.back_since = Some(now);
            } else if expected.lifted {
                expected.back_since = Some(now);
            }
            expected.lifted = false;
            let quiet = expected
                .back_since
                .is_some_and(|back| now >= back + config.base_ejection_time);
            if quiet && expected.failures == 0 && expected.in_a_row > 0 {
                expected.in_a_row = 0;
                expected.back_since = None;
            }
        }
    }

    fn expect_ejection(
        &mut self,
        address: SocketAddr,
        duration: Duration,
        count: u32,
        config: &OutlierDetectionConfig,
        now: Duration,
    ) {
        let i = self
            .addresses
            .iter()
            .position(|a| *a == address)
            .unwrap_or_else(|| panic!("ejected {address}, not in the group"));
        let (state, expected) = (&self.states[i], &mut self.expected[i]);
        assert_eq!(state.state(), HealthState::Healthy, "target {i} ejected");
        assert!(
            expected.failures >= config.consecutive_failures,
            "target {i} ejected for failures it should not count: {expected:?}"
        );
        assert!(expected.ejected_until.is_none(), "target {i} ejected twice");
        assert_eq!(
            count,
            expected.in_a_row + 1,
            "target {i}'s ejections in a row: {expected:?}"
        );
        let wanted = config
            .base_ejection_time
            .saturating_mul(count)
            .min(config.max_ejection_time);
        assert_eq!(duration, wanted, "target {i}'s ejection {count}");
        *expected = Expected {
            failures: 0,
            ejected_until: Some(now + duration),
            in_a_row: count,
            back_since: None,
            lifted: false,
        };
    }
}

fn random_rate(rng: &mut fastrand::Rng) -> u32 {
    *rng.choice(&[0, 0, 10, 50, 90, 100, 100]).unwrap_or(&0)
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
