//! Slow start: a target that becomes healthy gets a share of traffic that ramps up linearly
//! to its full share, so a cold cache or JIT is not flooded (ALB's `slow_start`).
//!
//! As on ALB, a target enters slow start only if, when it became healthy, the group had at
//! least one healthy target that was not itself in slow start: the first targets of a new
//! group (or of a process that just started) take their full share at once. That decision
//! needs the whole group, so the control plane makes it on its tick ([`decide_slow_start`]);
//! the data plane only reads the result ([`TargetState::slow_start_factor`]).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::{HealthState, TargetState};

/// The smallest share a ramping target gets, so it is never starved entirely.
const MIN_FACTOR: f64 = 0.01;

impl TargetState {
    /// The share of its weight the target may take at `now`: from near 0 when it became
    /// healthy to 1 when its slow start of length `ramp` is over (or it has none).
    pub fn slow_start_factor(&self, now: Instant, ramp: Duration) -> f64 {
        if ramp.is_zero() {
            return 1.0;
        }
        let since = self.healthy_since.load(Ordering::Relaxed);
        // Until the control plane has decided (within a tick), a target that just became
        // healthy ramps, unless it belongs to its group's first batch: whether it really
        // should is settled by whether a peer is at its full share, which the pick also
        // checks (nobody is held back when all ramp).
        let until = if self.slow_start_decided() {
            self.slow_start_until.load(Ordering::Relaxed)
        } else if self.skip_first_ramp.load(Ordering::Relaxed) {
            0
        } else {
            since.saturating_add(u64::try_from(ramp.as_millis()).unwrap_or(u64::MAX))
        };
        if until == 0 {
            return 1.0;
        }
        let now_ms = self.ms(now);
        if now_ms >= until {
            return 1.0;
        }
        let elapsed = now_ms.saturating_sub(since) as f64 / 1000.0;
        (elapsed / ramp.as_secs_f64()).clamp(MIN_FACTOR, 1.0)
    }

    pub(crate) fn slow_start_decided(&self) -> bool {
        self.slow_start_decided.load(Ordering::Acquire)
            == self.healthy_since.load(Ordering::Relaxed)
    }

    /// Marks the target as registered while its group had no healthy target: its first
    /// time healthy does not ramp (called by the snapshot builder for new targets).
    pub fn skip_first_slow_start(&self) {
        self.skip_first_ramp.store(true, Ordering::Relaxed);
    }

    fn in_slow_start(&self, now: Instant) -> bool {
        let until = self.slow_start_until.load(Ordering::Relaxed);
        until != 0 && self.ms(now) < until
    }
}

/// Decides slow start for the targets of one group that became healthy since the last
/// call: each ramps for `ramp` from when it became healthy if another healthy target of the
/// group is not ramping, else takes its full share at once. Returns the indices of those that
/// started a ramp (for the log).
pub fn decide_slow_start(targets: &[&TargetState], ramp: Duration, now: Instant) -> Vec<usize> {
    // Peers at their full share before this round: decided already and not ramping, or of
    // the group's first batch and not decided yet (they take their full share at once, and
    // serve at it already: a target registered before the first tick after a start must
    // still see them). Targets that became healthy together otherwise (a restart's first
    // batch) do not hold each other back: the first batch never ramps.
    let full_peers = targets
        .iter()
        .filter(|t| {
            let first_batch = !t.slow_start_decided() && t.skip_first_ramp.load(Ordering::Relaxed);
            t.is_eligible(now) && (first_batch || t.slow_start_decided() && !t.in_slow_start(now))
        })
        .count();
    let mut started = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        if target.state() != HealthState::Healthy || target.slow_start_decided() {
            continue;
        }
        let since = target.healthy_since.load(Ordering::Relaxed);
        let first_batch = target.skip_first_ramp.swap(false, Ordering::Relaxed);
        let until = if full_peers > 0 && !ramp.is_zero() && !first_batch {
            started.push(index);
            since
                .saturating_add(u64::try_from(ramp.as_millis()).unwrap_or(u64::MAX))
                .max(1)
        } else {
            0
        };
        // The end first, then "decided": a reader that sees the decision sees its end.
        target.slow_start_until.store(until, Ordering::Relaxed);
        target.slow_start_decided.store(since, Ordering::Release);
    }
    started
}

#[cfg(test)]
mod sim;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HealthReason;

    const RAMP: Duration = Duration::from_secs(30);

    #[test]
    fn the_first_targets_take_their_full_share_at_once() {
        let a = TargetState::new(HealthState::Healthy, HealthReason::None);
        let b = TargetState::new(HealthState::Healthy, HealthReason::None);
        let now = Instant::now();
        assert_eq!(decide_slow_start(&[&a, &b], RAMP, now).len(), 0);
        assert_eq!(a.slow_start_factor(now, RAMP), 1.0);
        assert_eq!(b.slow_start_factor(now, RAMP), 1.0);
    }

    #[test]
    fn a_target_joining_healthy_peers_ramps_linearly() {
        let a = TargetState::new(HealthState::Healthy, HealthReason::None);
        let b = TargetState::new(HealthState::Initial, HealthReason::InitialHealthChecking);
        let now = Instant::now();
        decide_slow_start(&[&a, &b], RAMP, now);
        b.set_state(HealthState::Healthy, HealthReason::None, Instant::now());
        let healthy_at = Instant::now();
        assert_eq!(decide_slow_start(&[&a, &b], RAMP, healthy_at).len(), 1);
        assert!(b.slow_start_factor(healthy_at, RAMP) <= 0.02);
        let half = b.slow_start_factor(healthy_at + RAMP / 2, RAMP);
        assert!((half - 0.5).abs() < 0.02, "{half}");
        // Times are kept in milliseconds: allow one past the end.
        let after = healthy_at + RAMP + Duration::from_millis(2);
        assert_eq!(b.slow_start_factor(after, RAMP), 1.0);
        // Deciding again changes nothing until it becomes healthy anew.
        assert_eq!(decide_slow_start(&[&a, &b], RAMP, healthy_at).len(), 0);
        assert!(b.slow_start_factor(healthy_at + RAMP / 2, RAMP) < 0.6);
    }

    #[test]
    fn the_first_batch_does_not_ramp_even_when_its_checks_pass_at_different_times() {
        let a = TargetState::new(HealthState::Initial, HealthReason::InitialHealthChecking);
        let b = TargetState::new(HealthState::Initial, HealthReason::InitialHealthChecking);
        a.skip_first_slow_start();
        b.skip_first_slow_start();
        a.set_state(HealthState::Healthy, HealthReason::None, Instant::now());
        let now = Instant::now();
        assert_eq!(decide_slow_start(&[&a, &b], RAMP, now).len(), 0);
        // b passes its checks later, while a is at its full share: still the first batch.
        b.set_state(HealthState::Healthy, HealthReason::None, Instant::now());
        assert_eq!(
            b.slow_start_factor(now, RAMP),
            1.0,
            "not held back before the tick"
        );
        assert_eq!(decide_slow_start(&[&a, &b], RAMP, now).len(), 0);
        assert_eq!(b.slow_start_factor(now, RAMP), 1.0);
        // Once it fails and comes back, it ramps like anyone.
        b.set_state(
            HealthState::Unhealthy,
            HealthReason::Timeout,
            Instant::now(),
        );
        b.set_state(HealthState::Healthy, HealthReason::None, Instant::now());
        let later = Instant::now();
        assert_eq!(decide_slow_start(&[&a, &b], RAMP, later).len(), 1);
    }

    #[test]
    fn a_target_registered_before_the_first_tick_still_ramps() {
        // a: the first batch of a group, serving, not decided yet (no tick since the start).
        let a = TargetState::new(HealthState::Healthy, HealthReason::None);
        a.skip_first_slow_start();
        // b: registered into the serving group before that first tick.
        let b = TargetState::new(HealthState::Healthy, HealthReason::None);
        let now = Instant::now();
        assert_eq!(decide_slow_start(&[&a, &b], RAMP, now), vec![1]);
        assert_eq!(a.slow_start_factor(now, RAMP), 1.0);
        assert!(b.slow_start_factor(now, RAMP) < 0.1);
    }

    #[test]
    fn slow_start_off_is_always_the_full_share() {
        let a = TargetState::new(HealthState::Healthy, HealthReason::None);
        let b = TargetState::new(HealthState::Healthy, HealthReason::None);
        let now = Instant::now();
        decide_slow_start(&[&a], Duration::ZERO, now);
        assert_eq!(decide_slow_start(&[&a, &b], Duration::ZERO, now).len(), 0);
        assert_eq!(b.slow_start_factor(now, Duration::ZERO), 1.0);
    }
}
