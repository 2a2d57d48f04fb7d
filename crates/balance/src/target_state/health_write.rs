//! Health writes: a target's state and reason, changed unconditionally (registration,
//! draining) or only if nothing wrote since a reader looked (health checkers).

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::TargetState;
use crate::health::{HealthReason, HealthState};

/// What a target's health was at one moment, as read by [`TargetState::stamp`]: pass it
/// back to [`TargetState::set_state_if_unchanged`] to write only if nobody wrote since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthStamp(pub(super) u32);

/// A change of a target's health state, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: HealthState,
    /// State after.
    pub to: HealthState,
    /// Why.
    pub reason: HealthReason,
}

impl TargetState {
    /// Moves to `state` for `reason` at `now`, whatever it was (registration, draining, a
    /// rebuild); returns the transition when the state changed. Every call invalidates stamps
    /// taken before it, so a health check that was deciding at the same moment cannot undo it.
    pub fn set_state(
        &self,
        state: HealthState,
        reason: HealthReason,
        now: Instant,
    ) -> Option<Transition> {
        let mut current = self.health.load(Ordering::Acquire);
        loop {
            let next = HealthStamp(current).next(state, reason);
            match self.health.compare_exchange_weak(
                current,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return self.count_transition(HealthStamp(current).state(), state, reason, now)
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Moves to `state` for `reason` at `now` only if nothing was written since `seen` was
    /// read; returns the transition when it happened. Health checkers write this way: a
    /// decision based on a state that draining or a rebuild has since replaced is dropped.
    pub fn set_state_if_unchanged(
        &self,
        seen: HealthStamp,
        state: HealthState,
        reason: HealthReason,
        now: Instant,
    ) -> Option<Transition> {
        let next = seen.next(state, reason);
        self.health
            .compare_exchange(seen.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        self.count_transition(seen.state(), state, reason, now)
    }

    fn count_transition(
        &self,
        from: HealthState,
        to: HealthState,
        reason: HealthReason,
        now: Instant,
    ) -> Option<Transition> {
        if from == to {
            return None;
        }
        if to == HealthState::Healthy {
            // Slow start ramps from here. Strictly later than the last time, so every
            // healthy episode is a new one for the slow-start decision even within one
            // millisecond.
            let last = self.healthy_since.load(Ordering::Relaxed);
            let now = self.ms(now).max(last.saturating_add(1));
            self.healthy_since.store(now, Ordering::Relaxed);
        }
        self.transitions.fetch_add(1, Ordering::Relaxed);
        Some(Transition { from, to, reason })
    }
}

// === impl HealthStamp ===

impl HealthStamp {
    pub(super) fn pack(state: HealthState, reason: HealthReason, version: u16) -> Self {
        Self(u32::from(version) << 16 | u32::from(reason as u8) << 8 | u32::from(state as u8))
    }

    fn next(self, state: HealthState, reason: HealthReason) -> Self {
        Self::pack(state, reason, ((self.0 >> 16) as u16).wrapping_add(1))
    }

    /// The state read.
    pub fn state(self) -> HealthState {
        HealthState::from_u8(self.0 as u8)
    }

    /// The reason read.
    pub fn reason(self) -> HealthReason {
        HealthReason::from_u8((self.0 >> 8) as u8)
    }
}
