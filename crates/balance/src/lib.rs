//! Who gets the next request: per-target shared state and the balancing algorithms.
//!
//! Data plane, layer 1. Pure code over atomics: no sockets, no locks, no async runtime, no
//! allocation per pick. It may import `ballast-config` for plain setting types only (the
//! [`Algorithm`] enum), never `health`, `scale`, `runtime` or `admin`: those write the
//! [`TargetState`] atomics, the data plane only reads them.

mod round_robin;
mod target_state;

pub use ballast_config::Algorithm;
pub use round_robin::RoundRobin;
pub use target_state::{InFlight, TargetState};

/// A target group's balancing algorithm with its shared state, built once per snapshot.
///
/// An enum rather than a trait object so a pick is a static `match`, resolved when the
/// snapshot is built.
#[derive(Debug)]
pub enum Balancer {
    /// See [`RoundRobin`].
    RoundRobin(RoundRobin),
}

impl Balancer {
    /// The balancer for an algorithm, starting fresh.
    pub fn from_algorithm(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::RoundRobin => Balancer::RoundRobin(RoundRobin::new()),
        }
    }

    /// Index of the target to send the next request to, among `targets`, or `None` when the
    /// group has no target to send to. `state` reads each target's live state, so callers
    /// keep whatever target type they like.
    pub fn pick<T>(&self, targets: &[T], _state: impl Fn(&T) -> &TargetState) -> Option<usize> {
        // Round robin needs no live state; the algorithms of the balancing issue will.
        match self {
            Balancer::RoundRobin(rr) => rr.pick(targets.len()),
        }
    }
}
