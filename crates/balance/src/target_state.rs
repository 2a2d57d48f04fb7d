//! Live state of one target, shared by every worker and carried across reloads.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::health::{HealthReason, HealthState};

mod ejection;
mod health_write;

pub use health_write::{HealthStamp, Transition};

/// Counters and health of one target: the data plane reads them per pick and updates them
/// per request; the control plane (health checks, outlier detection, draining) writes them.
///
/// Only atomics live here, so reading it never blocks a request. One `TargetState` exists per
/// (target group, address) and moves into each new snapshot, so counters and health survive
/// a reload. Times are stored as milliseconds after `base`, and every method that needs the
/// time takes it as an argument.
///
/// Field order is deliberate (`repr(C)`): what every pick reads sits together at the front
/// (one or two cache lines), ahead of the counters every request writes, so scanning a group
/// touches as little memory as possible.
#[derive(Debug)]
#[repr(C)]
pub struct TargetState {
    /// State, reason and a write counter packed in one word (see [`HealthStamp`]), so a
    /// reader never sees a state with another state's reason, and a health checker's write
    /// can be made conditional on nothing else having written since it looked.
    health: AtomicU32,
    /// Share of its weight anomaly mitigation leaves it, in thousandths (1000: all).
    pub(crate) mitigated_weight: AtomicU32,
    /// Ejection end in ms after `base`; 0 = not ejected.
    ejected_until: AtomicU64,
    /// End of its slow start in ms after `base`; 0 = not ramping.
    pub(crate) slow_start_until: AtomicU64,
    /// The `healthy_since` value slow start was last decided for (`u64::MAX`: never).
    pub(crate) slow_start_decided: AtomicU64,
    /// When the target last became healthy, in ms after `base`.
    pub(crate) healthy_since: AtomicU64,
    base: Instant,
    /// Registered while its group had no healthy target: its first time healthy takes the
    /// full share at once (the first batch of a group, or of a process, does not ramp).
    pub(crate) skip_first_ramp: AtomicBool,
    in_flight: AtomicU64,
    /// Open connections to the target (for `least_connections`).
    pub(crate) connections: AtomicU64,
    /// Peak-EWMA of response time in µs, as `f64` bits (for `least_response_time`).
    pub(crate) latency_bits: AtomicU64,
    /// When `latency_bits` was last updated, in ms after `base`.
    pub(crate) latency_stamp: AtomicU64,
    pub(crate) requests: AtomicU64,
    /// Failed requests in total (for anomaly detection).
    pub(crate) failures: AtomicU64,
    consecutive_failures: AtomicU32,
    ejections: AtomicU32,
    /// The last active health check: ms after `base` plus one (0: none yet), with the top
    /// bit set when it passed. Written by the checker, read by the admin API.
    last_check: AtomicU64,
    /// Active health checks that passed, and that failed, since the target was first
    /// configured (for operators, and for tests that count checks instead of timing them).
    checks_passed: AtomicU64,
    checks_failed: AtomicU64,
    transitions: AtomicU64,
    /// Unique for the life of the process: what control-plane memory (anomaly windows) keys
    /// a target by. Its address is not enough: a target freed by a reload and one registered
    /// after it may share an address.
    id: u64,
}

/// Marks one request as in flight on a target until dropped.
///
/// Dropping is the only way to end it, so an early return or a cancelled future can never
/// leave the count too high.
#[must_use = "the request counts as in flight only while this guard lives"]
#[derive(Debug)]
pub struct InFlight {
    state: Arc<TargetState>,
}

/// `mitigated_weight` of a target anomaly mitigation leaves alone.
pub(crate) const FULL_WEIGHT: u32 = 1000;

/// The next `TargetState::id`.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Top bit of `TargetState::last_check`: that check passed.
const LAST_CHECK_PASSED: u64 = 1 << 63;

impl TargetState {
    /// A target in `state` for `reason`, with nothing in flight, created now.
    pub fn new(state: HealthState, reason: HealthReason) -> Self {
        Self::new_at(state, reason, Instant::now())
    }

    /// [`Self::new`] created at `now`: the time its stored times count from. Simulations
    /// pass a virtual clock, so a replayed history rounds every time the same way.
    pub fn new_at(state: HealthState, reason: HealthReason, now: Instant) -> Self {
        Self {
            base: now,
            health: AtomicU32::new(HealthStamp::pack(state, reason, 0).0),
            in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            transitions: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            failures: AtomicU64::new(0),
            mitigated_weight: AtomicU32::new(FULL_WEIGHT),
            connections: AtomicU64::new(0),
            latency_bits: AtomicU64::new(0),
            latency_stamp: AtomicU64::new(0),
            healthy_since: AtomicU64::new(0),
            slow_start_until: AtomicU64::new(0),
            slow_start_decided: AtomicU64::new(u64::MAX),
            skip_first_ramp: AtomicBool::new(false),
            last_check: AtomicU64::new(0),
            checks_passed: AtomicU64::new(0),
            checks_failed: AtomicU64::new(0),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Records an active health check's time and result (for operators, not for balancing).
    pub fn record_check(&self, at: Instant, passed: bool) {
        let stamp = (self.ms(at) + 1) & !LAST_CHECK_PASSED;
        let stamp = if passed {
            stamp | LAST_CHECK_PASSED
        } else {
            stamp
        };
        self.last_check.store(stamp, Ordering::Relaxed);
        let count = if passed {
            &self.checks_passed
        } else {
            &self.checks_failed
        };
        count.fetch_add(1, Ordering::Relaxed);
    }

    /// Active health checks that passed, and that failed, since the target was first
    /// configured. A check is counted before the state it leads to is written, so a reader
    /// that sees the new state sees the check that decided it.
    pub fn checks(&self) -> (u64, u64) {
        (
            self.checks_passed.load(Ordering::Relaxed),
            self.checks_failed.load(Ordering::Relaxed),
        )
    }

    /// When the last active health check ran and whether it passed; `None` before the first.
    pub fn last_check(&self) -> Option<(Instant, bool)> {
        let stamp = self.last_check.load(Ordering::Relaxed);
        let ms = stamp & !LAST_CHECK_PASSED;
        (ms > 0).then(|| {
            (
                self.base + std::time::Duration::from_millis(ms - 1),
                stamp & LAST_CHECK_PASSED != 0,
            )
        })
    }

    /// This target's identity, unique for the life of the process (never reused, unlike its
    /// address).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The time `now` as stored in this target's atomics (ms after its creation).
    pub(crate) fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts a request as started; it ends when the guard drops.
    ///
    /// The guard owns a reference so it can travel with a streamed response body.
    pub fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight {
            state: Arc::clone(self),
        }
    }

    /// Requests currently in flight.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Requests started since the target was first configured.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Current health state.
    pub fn state(&self) -> HealthState {
        self.stamp().state()
    }

    /// Why the target is in its state.
    pub fn reason(&self) -> HealthReason {
        self.stamp().reason()
    }

    /// State and reason now, with a token for [`Self::set_state_if_unchanged`].
    pub fn stamp(&self) -> HealthStamp {
        HealthStamp(self.health.load(Ordering::Acquire))
    }

    /// Health transitions since the target was first configured.
    pub fn transitions(&self) -> u64 {
        self.transitions.load(Ordering::Relaxed)
    }

    /// Whether new requests may go to this target at `now`: healthy and not ejected.
    pub fn is_eligible(&self, now: Instant) -> bool {
        self.state() == HealthState::Healthy && !self.is_ejected(now)
    }

    /// Whether this target may take traffic when the group fails open: anything registered
    /// (not draining, not unused).
    pub fn is_registered(&self) -> bool {
        !matches!(self.state(), HealthState::Draining | HealthState::Unused)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
