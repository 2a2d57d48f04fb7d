//! What the sampler keeps for the dashboard: the per-second samples of the charts and the
//! last readings of each target, behind one lock the request path never takes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use super::stats::{Ring, Sample, TargetReading, RING_CAPACITY, TARGET_READINGS};

/// Recent samples the dashboard charts, and the signal that ends its event streams.
#[derive(Debug)]
pub(crate) struct Stats {
    recent: Mutex<Recent>,
    /// Cancelled when the admin server stops, so open event streams end and the graceful
    /// shutdown does not wait for browsers to go away.
    pub(super) stop: CancellationToken,
}

/// What the sampler has kept.
#[derive(Debug)]
pub(super) struct Recent {
    /// One sample per second, oldest first.
    pub(super) samples: Ring<Sample>,
    /// The last few readings of each target, by (group, address).
    pub(super) targets: BTreeMap<(String, SocketAddr), Ring<TargetReading>>,
}

// === impl Stats ===

impl Default for Stats {
    fn default() -> Self {
        Self {
            recent: Mutex::new(Recent {
                samples: Ring::new(RING_CAPACITY),
                targets: BTreeMap::new(),
            }),
            stop: CancellationToken::new(),
        }
    }
}

impl Stats {
    pub(super) fn lock(&self) -> MutexGuard<'_, Recent> {
        // Whatever a panic left behind is still a valid ring.
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

// === impl Recent ===

impl Recent {
    /// Appends each target's reading and forgets targets no longer configured.
    pub(super) fn keep_targets(&mut self, readings: Vec<((String, SocketAddr), TargetReading)>) {
        let mut fresh = BTreeMap::new();
        for (key, reading) in readings {
            let mut ring = self
                .targets
                .remove(&key)
                .unwrap_or_else(|| Ring::new(TARGET_READINGS));
            ring.push(reading);
            fresh.insert(key, ring);
        }
        self.targets = fresh;
    }
}
