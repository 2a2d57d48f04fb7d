//! Who gets the next request: per-target shared state and the balancing algorithms.
//!
//! Data plane, layer 1. Pure code over atomics: no sockets, no locks, no async runtime, no
//! allocation per pick, and the time is always passed in. It may import `ballast-config` for
//! plain setting types only (the [`Algorithm`] enum), never `health`, `scale`, `runtime` or
//! `admin`: those write the [`TargetState`] atomics, the data plane only reads them.

mod health;
mod retry_budget;
mod round_robin;
mod target_state;

use std::time::Instant;

pub use ballast_config::Algorithm;
pub use health::{HealthReason, HealthState};
pub use retry_budget::RetryBudget;
pub use round_robin::RoundRobin;
pub use target_state::{HealthStamp, InFlight, TargetState, Transition};

/// A target group's balancing algorithm with its shared state, built once per snapshot.
///
/// An enum rather than a trait object so a pick is a static `match`, resolved when the
/// snapshot is built.
#[derive(Debug)]
pub enum Balancer {
    /// See [`RoundRobin`].
    RoundRobin(RoundRobin),
}

/// What a pick needs besides the targets.
#[derive(Debug, Clone, Copy)]
pub struct PickInput {
    /// The current time (ejections end by it).
    pub now: Instant,
    /// When no target is eligible, pick among every registered target instead of none.
    pub fail_open: bool,
    /// A target not to pick (the one a retry is moving away from).
    pub exclude: Option<usize>,
}

impl Balancer {
    /// The balancer for an algorithm, starting fresh.
    pub fn from_algorithm(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::RoundRobin => Balancer::RoundRobin(RoundRobin::new()),
        }
    }

    /// The algorithm this balancer runs (a rebuild keeps the balancer, and its position,
    /// when the algorithm did not change).
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Balancer::RoundRobin(_) => Algorithm::RoundRobin,
        }
    }

    /// Index of the target for the next request, or `None` when the group has none to send to.
    ///
    /// Only eligible targets (healthy, not ejected, not draining) are picked while any exists.
    /// When none is and the group fails open, every registered target is a candidate again,
    /// as ALB does. `state` reads each target's live state, so callers keep their own target
    /// type.
    pub fn pick<T>(
        &self,
        targets: &[T],
        state: impl Fn(&T) -> &TargetState,
        input: &PickInput,
    ) -> Option<usize> {
        let allowed = |i: usize| input.exclude != Some(i);
        let eligible = |i: usize| allowed(i) && state(&targets[i]).is_eligible(input.now);
        let count = (0..targets.len()).filter(|&i| eligible(i)).count();
        if count > 0 {
            return self.nth_of(count, targets.len(), eligible);
        }
        // A retry moving away from the only eligible target does not make the group fail
        // open: the group is not down, one of its targets just failed one request.
        let left_eligible = input.exclude.is_some_and(|i| {
            targets
                .get(i)
                .is_some_and(|t| state(t).is_eligible(input.now))
        });
        if !input.fail_open || left_eligible {
            return None;
        }
        let registered = |i: usize| allowed(i) && state(&targets[i]).is_registered();
        let count = (0..targets.len()).filter(|&i| registered(i)).count();
        self.nth_of(count, targets.len(), registered)
    }

    fn nth_of(&self, count: usize, len: usize, candidate: impl Fn(usize) -> bool) -> Option<usize> {
        let k = match self {
            Balancer::RoundRobin(rr) => rr.pick(count)?,
        };
        if count == len {
            return Some(k);
        }
        // The atomics are read twice: a target that changed in between must not turn a
        // pick into "nothing to send to".
        (0..len)
            .filter(|&i| candidate(i))
            .nth(k)
            .or_else(|| (0..len).find(|&i| candidate(i)))
    }
}

#[cfg(test)]
mod tests;
