//! Live state of one target, shared by every worker and carried across reloads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters the data plane updates on every request and the control plane reads on its tick.
///
/// Only atomics live here, so reading it never blocks a request. One `TargetState` exists per
/// (target group, address) and moves into each new snapshot, so counters survive a reload.
#[derive(Debug, Default)]
pub struct TargetState {
    in_flight: AtomicU64,
    requests: AtomicU64,
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

impl TargetState {
    /// A target with nothing in flight.
    pub fn new() -> Self {
        Self::default()
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
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_follows_guards() {
        let state = Arc::new(TargetState::new());
        let a = state.begin_request();
        let b = state.begin_request();
        assert_eq!(state.in_flight(), 2);
        drop(a);
        assert_eq!(state.in_flight(), 1);
        drop(b);
        assert_eq!(state.in_flight(), 0);
        assert_eq!(state.requests(), 2);
    }
}
