//! Who gets the next request: per-target shared state and the balancing algorithms.
//!
//! Data plane, layer 1. Pure code over atomics: no sockets, no locks, no async runtime, no
//! allocation per pick, and the time and randomness are always passed in. It may import
//! `ballast-config` for plain setting types only (the [`Algorithm`] enum), never `health`,
//! `scale`, `runtime` or `admin`: those write the [`TargetState`] atomics, the data plane only
//! reads them.

mod anomaly;
mod candidates;
mod hash;
mod health;
mod load;
mod maglev;
mod retry_budget;
mod round_robin;
mod select;
mod slow_start;
mod sticky;
mod target_state;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use anomaly::{AnomalyDetector, AnomalyEvent, EVALUATION_INTERVAL};
pub use ballast_config::Algorithm;
pub use hash::{stable_hash, stable_hash2};
pub use health::{HealthReason, HealthState};
pub use load::OpenConnection;
pub use maglev::MaglevTable;
pub use retry_budget::RetryBudget;
pub use round_robin::RoundRobin;
pub use slow_start::decide_slow_start;
pub use sticky::StickyKey;
pub use target_state::{HealthStamp, InFlight, TargetState, Transition};

use candidates::Candidates;

/// A target group's balancing algorithm with what it needs to pick, built once per
/// snapshot: static per-target weights and zones, the hash table of hashing algorithms, and
/// a round-robin position shared with the next build.
///
/// A pick is a `match` on the algorithm, resolved when the snapshot is built, never a
/// trait object.
#[derive(Debug)]
pub struct Balancer {
    algorithm: Algorithm,
    weights: Box<[u32]>,
    /// Whether each target is in this node's zone (all `true` without zone affinity).
    local: Box<[bool]>,
    /// Every weight equal: round robin can take the exact k-th candidate.
    uniform: bool,
    options: BalanceOptions,
    position: Arc<RoundRobin>,
    table: Option<MaglevTable>,
}

/// What the balancer knows of one target, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetSpec {
    /// Relative share of traffic, at least 1.
    pub weight: u32,
    /// In the zone this node runs in.
    pub local: bool,
    /// A stable identity ([`stable_hash`] of its address), so hashing algorithms place keys
    /// the same way whatever the target order and on every node.
    pub id: u64,
}

/// Group-wide balancing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BalanceOptions {
    /// Ramp-up time of a newly healthy target (zero: off).
    pub slow_start: Duration,
    /// Prefer targets in this node's zone (`cross_zone = false` and a node zone is set).
    pub zone_affinity: bool,
    /// Scale each target's weight by what anomaly mitigation leaves it.
    pub anomaly_mitigation: bool,
}

/// What a pick needs besides the targets.
#[derive(Debug, Clone, Copy)]
pub struct PickInput {
    /// The current time (ejections end by it, slow start ramps with it).
    pub now: Instant,
    /// When no target is eligible, pick among every registered target instead of none.
    pub fail_open: bool,
    /// A target not to pick (the one a retry is moving away from).
    pub exclude: Option<usize>,
    /// A uniformly random number for this pick (random choices and ties).
    pub random: u64,
    /// The request's affinity key hashed with [`stable_hash`], for hashing algorithms;
    /// `None` when the request has no key (it is then placed at random, by weight).
    pub key: Option<u64>,
}

impl Balancer {
    /// A balancer of `algorithm` for targets `specs` (in snapshot order). The round-robin
    /// position of `previous` is kept when it ran the same algorithm, so a rebuild does not
    /// send the next request to the first target again.
    pub fn build(
        algorithm: Algorithm,
        specs: &[TargetSpec],
        options: BalanceOptions,
        previous: Option<&Balancer>,
    ) -> Self {
        let weights: Box<[u32]> = specs.iter().map(|s| s.weight.max(1)).collect();
        let uniform = weights.windows(2).all(|w| w[0] == w[1]);
        let table = matches!(
            algorithm,
            Algorithm::IpHash | Algorithm::ConsistentHash | Algorithm::FlowHash
        )
        .then(|| {
            let ids: Vec<u64> = specs.iter().map(|s| s.id).collect();
            MaglevTable::build(&ids, &weights)
        });
        let position = match previous {
            Some(p) if p.algorithm == algorithm => Arc::clone(&p.position),
            _ => Arc::new(RoundRobin::new()),
        };
        Self {
            algorithm,
            local: specs
                .iter()
                .map(|s| s.local || !options.zone_affinity)
                .collect(),
            weights,
            uniform,
            options,
            position,
            table,
        }
    }

    /// A balancer for `n` targets of weight 1 and default options (tests, benchmarks).
    pub fn uniform(algorithm: Algorithm, n: usize) -> Self {
        let specs: Vec<TargetSpec> = (0..n)
            .map(|i| TargetSpec {
                weight: 1,
                local: true,
                id: stable_hash(&i.to_le_bytes()),
            })
            .collect();
        Self::build(algorithm, &specs, BalanceOptions::default(), None)
    }

    /// The algorithm this balancer runs.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether this balancer continues `other`'s round-robin position.
    pub fn shares_position_with(&self, other: &Balancer) -> bool {
        Arc::ptr_eq(&self.position, &other.position)
    }

    /// Index of the target for the next request, or `None` when the group has none to send to.
    ///
    /// Candidates, in order of preference: eligible targets (healthy, not ejected, not
    /// draining) in this node's zone when the group prefers it; eligible targets in any zone;
    /// when none is eligible and the group fails open, every registered target (as ALB does).
    /// `state` reads each target's live state, so callers keep their own target type.
    pub fn pick<T>(
        &self,
        targets: &[T],
        state: impl Fn(&T) -> &TargetState,
        input: &PickInput,
    ) -> Option<usize> {
        let candidates = Candidates::find(self, targets, &state, input)?;
        select::pick(self, &candidates, targets, &state, input)
    }
}

#[cfg(test)]
mod tests;
