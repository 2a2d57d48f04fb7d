//! Passive health of a target: failures on real traffic, and ejections.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::TargetState;

impl TargetState {
    /// Records the outcome of a request on real traffic (passive health).
    pub fn record_outcome(&self, success: bool) {
        if success {
            if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
                self.consecutive_failures.store(0, Ordering::Relaxed);
            }
        } else {
            self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Failed requests since the target was first configured (5xx, connect failures,
    /// timeouts).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Failures in a row on real traffic since the last success or ejection.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Ordering::Relaxed)
    }

    /// Whether passive health has taken the target out of rotation at `now`.
    pub fn is_ejected(&self, now: Instant) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        until != 0 && self.ms(now) < until
    }

    /// When the current ejection ends, if one is running at `now`.
    pub fn ejected_for(&self, now: Instant) -> Option<Duration> {
        let until = self.ejected_until.load(Ordering::Relaxed);
        let now_ms = self.ms(now);
        (until != 0 && now_ms < until).then(|| Duration::from_millis(until - now_ms))
    }

    /// Ejections in a row (reset once an ejection ends and the target serves successfully).
    pub fn ejections(&self) -> u32 {
        self.ejections.load(Ordering::Relaxed)
    }

    /// Takes the target out of rotation for `duration` from `now`, counting the ejection.
    pub fn eject(&self, now: Instant, duration: Duration) {
        let until = self
            .ms(now)
            .saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
            .max(1);
        self.ejected_until.store(until, Ordering::Relaxed);
        self.ejections.fetch_add(1, Ordering::Relaxed);
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    /// Ends an ejection that has run its time; returns whether one did. Failures counted
    /// during the ejection (requests that were already in flight) are forgotten, so a
    /// target that recovered is not ejected again at once for what it did before. The
    /// ejection count itself is forgiven by the outlier detector after a quiet while.
    pub fn end_ejection_if_over(&self, now: Instant) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        if until != 0 && self.ms(now) >= until {
            self.ejected_until.store(0, Ordering::Relaxed);
            self.consecutive_failures.store(0, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Ends a running ejection early; returns whether one was running at `now`. An active
    /// health check that proves the target healthy again lifts it (Envoy's
    /// `successful_active_health_check_uneject_host`).
    ///
    /// As when an ejection ends by itself, failures counted during it (requests that were
    /// in flight, or sent while the group failed open) are forgotten: they must not eject
    /// the target again, for longer, at the next tick. An ejection whose time is already
    /// over is left to the outlier detector to end (and report) on its tick.
    pub fn lift_ejection(&self, now: Instant) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        if until == 0 || self.ms(now) >= until {
            return false;
        }
        let lifted = self
            .ejected_until
            .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        if lifted {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
        lifted
    }

    /// Forgets past ejections (the target has served successfully since it came back).
    pub fn forgive_ejections(&self) {
        self.ejections.store(0, Ordering::Relaxed);
    }
}
