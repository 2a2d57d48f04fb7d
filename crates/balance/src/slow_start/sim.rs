//! Seeded simulation of slow start: a thousand random histories of one group in virtual
//! time (targets that pass and fail their checks, get ejected, are registered while the
//! group serves or not), with the control plane's decision on every tick. At every tick,
//! before and after the decision, what `docs/config.md` (`slow_start`) promises:
//!
//! - a target's share is never nothing and never more than its full weight: its factor stays
//!   in [1 %, 100 %], and its weight in a pick in [1, full];
//! - a ramp is linear from when the target became healthy and reaches the full share at the
//!   end of the window; the share never goes down while the target stays healthy;
//! - a target ramps only if, when it is decided, a peer is serving at its full share; the
//!   first batch of a group (registered while none of it was serving) never ramps;
//! - with `slow_start = "0s"` every target always has its full share.
//!
//! Replay a failing history with `SIM_SEED=<seed> cargo test -p ballast-balance slow_start`.

use std::time::{Duration, Instant};

use ballast_testkit::sim::{simulate, Trace};

use super::MIN_FACTOR;
use crate::candidates::{Candidates, RAMP_SCALE};
use crate::{
    decide_slow_start, Algorithm, BalanceOptions, Balancer, HealthReason, HealthState, PickInput,
    TargetSpec, TargetState,
};

const HISTORIES: u64 = 1000;
const STEPS: usize = 300;
const TICK: u64 = 100;

/// One target and what the simulation knows of its current healthy episode.
struct Target {
    state: TargetState,
    /// Virtual time of its creation (its stored times count from there), in ms.
    born: u64,
    weight: u32,
    /// When its current healthy episode began (virtual ms); `None` while not healthy.
    episode: Option<u64>,
    /// Its stored "healthy since", ms after `born` (each episode starts strictly later).
    since: u64,
    /// Registered while its group had no target taking traffic.
    first_batch: bool,
    /// Whether the control plane decided it ramps (`None`: not decided yet this episode).
    ramps: Option<bool>,
    /// Its factor at the last check of this episode.
    last_factor: Option<f64>,
}

struct Group {
    t0: Instant,
    ramp: Duration,
    targets: Vec<Target>,
}

#[test]
fn slow_start_keeps_its_promises_in_random_histories() {
    let t0 = Instant::now();
    simulate("slow start", HISTORIES, |rng, trace| {
        let ramp = match rng.u32(..20) {
            0 => Duration::ZERO,
            _ => Duration::from_millis(rng.u64(30_000..=900_000)),
        };
        trace.note(format!("ramp {ramp:?}"));
        let mut group = Group {
            t0,
            ramp,
            targets: Vec::new(),
        };
        for _ in 0..rng.usize(1..=5) {
            group.register(rng, 0);
        }
        let mut now = 0;
        for step in 0..STEPS {
            trace.step(step);
            for _ in 0..rng.usize(0..3) {
                group.act(rng, trace, now);
            }
            group.check(now);
            group.decide(now, trace);
            group.check(now);
            now += match rng.u32(..10) {
                0..=5 => TICK,
                6..=8 => rng.u64(1..=(group.ramp_ms() / 4).max(1)),
                _ => rng.u64(1..=(2 * group.ramp_ms()).max(1)),
            };
            group.check(now);
        }
    });
}

// === impl Group ===

impl Group {
    fn ramp_ms(&self) -> u64 {
        u64::try_from(self.ramp.as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// A new target, `initial` (health checked) or `healthy` (unchecked group): part of
    /// the first batch when nothing in the group takes traffic, as the snapshot builder
    /// decides.
    fn register(&mut self, rng: &mut fastrand::Rng, now: u64) {
        let serving = self
            .targets
            .iter()
            .any(|t| t.state.is_eligible(self.at(now)));
        let healthy = rng.bool();
        let to = if healthy {
            HealthState::Healthy
        } else {
            HealthState::Initial
        };
        let state = TargetState::new_at(to, HealthReason::None, self.at(now));
        if !serving {
            state.skip_first_slow_start();
        }
        self.targets.push(Target {
            state,
            born: now,
            weight: rng.u32(1..=100),
            episode: healthy.then_some(now),
            since: 0,
            first_batch: !serving,
            ramps: None,
            last_factor: None,
        });
    }

    /// One thing happening: a health change, an ejection or its lift, a registration.
    fn act(&mut self, rng: &mut fastrand::Rng, trace: &Trace, now: u64) {
        let at = self.at(now);
        if rng.u32(..15) == 0 && self.targets.len() < 8 {
            self.register(rng, now);
            trace.note(format!("target {} registered", self.targets.len() - 1));
            return;
        }
        let i = rng.usize(..self.targets.len());
        let target = &mut self.targets[i];
        match rng.u32(..10) {
            0..=7 => {
                let to = *rng
                    .choice(&[
                        HealthState::Healthy,
                        HealthState::Healthy,
                        HealthState::Unhealthy,
                        HealthState::Draining,
                    ])
                    .unwrap_or(&HealthState::Healthy);
                let Some(t) = target.state.set_state(to, HealthReason::None, at) else {
                    return;
                };
                if t.to == HealthState::Healthy {
                    target.since = (now - target.born).max(target.since + 1);
                    target.episode = Some(target.born + target.since);
                } else {
                    target.episode = None;
                }
                target.ramps = None;
                target.last_factor = None;
                trace.note(format!("target {i}: {}", to.as_str()));
            }
            8 => {
                target
                    .state
                    .eject(at, Duration::from_millis(rng.u64(1..=60_000)));
                trace.note(format!("target {i}: ejected"));
            }
            _ => {
                let lifted = target.state.lift_ejection(at);
                trace.note(format!("target {i}: ejection lifted: {lifted}"));
            }
        }
    }

    /// The control plane's tick: decides the targets that became healthy since the last.
    fn decide(&mut self, now: u64, trace: &Trace) {
        let at = self.at(now);
        let full_peers = self
            .targets
            .iter()
            .filter(|t| {
                let undecided_first = t.first_batch && t.ramps.is_none();
                t.state.is_eligible(at)
                    && (t.ramps.is_some() || undecided_first)
                    && t.factor(at, self.ramp) >= 1.0
            })
            .count();
        let view: Vec<&TargetState> = self.targets.iter().map(|t| &t.state).collect();
        let started = decide_slow_start(&view, self.ramp, at);
        trace.note(format!(
            "decided at {now} ms: {started:?} ramp, {full_peers} at full share"
        ));
        for (i, target) in self.targets.iter_mut().enumerate() {
            let newly = target.episode.is_some() && target.ramps.is_none();
            let ramps = newly && full_peers > 0 && !self.ramp.is_zero() && !target.first_batch;
            assert_eq!(started.contains(&i), ramps, "target {i}");
            if newly {
                target.ramps = Some(ramps);
                // The first batch is decided once: its next healthy episode ramps like any.
                target.first_batch = false;
            }
        }
    }

    /// Every target's share at `now` is what the documentation says it is.
    fn check(&mut self, now: u64) {
        let at = self.at(now);
        let (ramp, ramp_ms) = (self.ramp, self.ramp_ms());
        for (i, target) in self.targets.iter_mut().enumerate() {
            let factor = target.factor(at, ramp);
            assert!(
                (MIN_FACTOR..=1.0).contains(&factor),
                "target {i}: factor {factor}"
            );
            let Some(since) = target.episode else {
                continue;
            };
            let linear = ((now.saturating_sub(since)) as f64 / 1000.0 / ramp.as_secs_f64())
                .clamp(MIN_FACTOR, 1.0);
            let expected = match target.ramps {
                _ if ramp.is_zero() || now >= since + ramp_ms => 1.0,
                Some(true) => linear,
                Some(false) => 1.0,
                None if target.first_batch => 1.0,
                None => linear,
            };
            assert!(
                (factor - expected).abs() < 1e-9,
                "target {i} at {now} ms, healthy since {since} ms: factor {factor}, expected {expected}"
            );
            assert!(
                target.last_factor.is_none_or(|last| factor >= last),
                "target {i}'s share went down: {:?} then {factor}",
                target.last_factor
            );
            target.last_factor = Some(factor);
        }
        self.check_pick_weights(at);
    }

    /// The weights a pick uses stay within (0, full weight]: a ramping target's is scaled by
    /// its factor, the others' are their full weights.
    fn check_pick_weights(&self, at: Instant) {
        let specs: Vec<TargetSpec> = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| TargetSpec {
                weight: t.weight,
                local: true,
                id: i as u64,
            })
            .collect();
        let options = BalanceOptions {
            slow_start: self.ramp,
            ..BalanceOptions::default()
        };
        let balancer = Balancer::build(Algorithm::RoundRobin, &specs, options, None);
        let input = PickInput {
            now: at,
            fail_open: false,
            exclude: None,
            random: 0,
            key: None,
        };
        fn state(target: &Target) -> &TargetState {
            &target.state
        }
        let Some(candidates) = Candidates::find(&balancer, &self.targets, &state, &input) else {
            return;
        };
        for (i, target) in self.targets.iter().enumerate() {
            if !candidates.admits(&balancer, i, &target.state, &input) {
                continue;
            }
            let weight = candidates.weight(&balancer, i, &target.state, &input);
            let full = if candidates.ramping() {
                (f64::from(target.weight) * RAMP_SCALE) as u64
            } else {
                u64::from(target.weight)
            };
            assert!(
                (1..=full).contains(&weight),
                "target {i}: weight {weight} of {full}"
            );
            if target.factor(at, self.ramp) >= 1.0 {
                assert_eq!(weight, full, "target {i} at its full share");
            }
        }
    }
}

impl Target {
    fn factor(&self, at: Instant, ramp: Duration) -> f64 {
        self.state.slow_start_factor(at, ramp)
    }
}
