//! Ballast's own file-descriptor budget. The data plane may hold at most `limit` sockets
//! (client and target connections); the rest of the process limit is a reserve for the
//! admin API, health checks, logs and configuration files, so Ballast stays manageable when
//! clients exhaust it, and running out is reported as Ballast's fault (503
//! `Ballast.ResourceExhausted`), never blamed on a target.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ballast_config::{ClientLimits, EdgePolicy};

use crate::admission::{ClientKey, ClientTable, Refused};

/// How many data-plane sockets may be open, and how many are.
#[derive(Debug)]
pub struct FdBudget {
    limit: usize,
    open: AtomicUsize,
    refused: AtomicUsize,
}

/// One socket counted against the budget until dropped.
#[derive(Debug)]
pub struct FdSlot(Arc<FdBudget>);

impl FdBudget {
    /// A budget of `limit` sockets.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            open: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        })
    }

    /// No limit (tests, embedding).
    pub fn unlimited() -> Arc<Self> {
        Self::new(usize::MAX)
    }

    /// Data-plane sockets allowed, from the process's file-descriptor limit: all but a
    /// reserve of a tenth (at least 32, at most 1024) for everything else.
    pub fn for_process_limit(nofile: u64) -> Arc<Self> {
        let nofile = usize::try_from(nofile).unwrap_or(usize::MAX);
        let reserve = (nofile / 10).clamp(32, 1024);
        Self::new(nofile.saturating_sub(reserve).max(1))
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sockets open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Times a socket was refused because the budget was spent.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }

    /// A slot for one more socket, or `None` when the budget is spent.
    pub fn acquire(self: &Arc<Self>) -> Option<FdSlot> {
        let previous = self.open.fetch_add(1, Ordering::Relaxed);
        if previous >= self.limit {
            self.open.fetch_sub(1, Ordering::Relaxed);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(FdSlot(Arc::clone(self)))
    }
}

impl Drop for FdSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether an I/O error means the process (not the peer) ran out of something: file
/// descriptors (`EMFILE`, `ENFILE`), kernel memory or socket buffers (`ENOBUFS`,
/// `ENOMEM`), or local ports (`EADDRNOTAVAIL`).
pub fn is_resource_exhaustion(error: &std::io::Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOMEM: i32 = 12;
    const ENOBUFS: i32 = 105;
    const EADDRNOTAVAIL: i32 = 99;
    matches!(
        error.raw_os_error(),
        Some(EMFILE | ENFILE | ENOMEM | ENOBUFS | EADDRNOTAVAIL)
    ) || error.kind() == std::io::ErrorKind::OutOfMemory
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_given_back() {
        let budget = FdBudget::new(2);
        let a = budget.acquire().unwrap();
        let _b = budget.acquire().unwrap();
        assert!(budget.acquire().is_none());
        assert_eq!((budget.open(), budget.refused()), (2, 1));
        drop(a);
        assert!(budget.acquire().is_some());
    }

    #[test]
    fn the_reserve_is_a_tenth_within_bounds() {
        assert_eq!(FdBudget::for_process_limit(1024).limit(), 1024 - 102);
        assert_eq!(FdBudget::for_process_limit(100).limit(), 68);
        assert_eq!(
            FdBudget::for_process_limit(1_048_576).limit(),
            1_048_576 - 1024
        );
        assert!(is_resource_exhaustion(&std::io::Error::from_raw_os_error(
            24
        )));
        assert!(!is_resource_exhaustion(&std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        )));
    }
}

/// The client connections open on one listener, across every worker: what
/// `max_connections` and `client_limits` bound. Lives as long as the listener, across
/// reloads.
#[derive(Debug, Default)]
pub struct ListenerConnections {
    open: AtomicUsize,
    /// Made when a connection first meets `client_limits` (1 MiB; most listeners never do).
    clients: std::sync::OnceLock<ClientTable>,
}

/// One client connection counted on its listener (and for its client) until dropped.
#[derive(Debug)]
pub struct ListenerSlot {
    /// `None` once [`ListenerSlot::into_mark`] handed the release over.
    connections: Option<Arc<ListenerConnections>>,
    client: Option<ClientKey>,
}

/// A counted connection whose holder releases it itself, with
/// [`ListenerConnections::release`]: a holder that can reach its listener's counts another
/// way keeps 8 bytes per connection instead of a slot's 16 (an idle HTTP connection's task
/// is at the edge of its allocation class).
#[derive(Debug)]
pub struct SlotMark(Option<ClientKey>);

impl ListenerSlot {
    /// The mark of this slot; the caller must pass it to [`ListenerConnections::release`]
    /// on the same listener when the connection ends.
    pub fn into_mark(mut self) -> SlotMark {
        self.connections = None;
        SlotMark(self.client)
    }
}

impl ListenerConnections {
    /// None open yet.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// A slot for one more connection, or `None` when `max` are open already.
    pub fn admit(self: &Arc<Self>, max: Option<usize>) -> Option<ListenerSlot> {
        let max = max.unwrap_or(usize::MAX);
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()
            .map(|_| ListenerSlot {
                connections: Some(Arc::clone(self)),
                client: None,
            })
    }

    /// A slot for a client at `ip` under the listener's `policy` and `max` connections, or
    /// why it is refused. A refused client takes nothing: neither a token nor a count.
    pub fn admit_client(
        self: &Arc<Self>,
        policy: &EdgePolicy,
        ip: IpAddr,
        max: Option<usize>,
    ) -> Result<ListenerSlot, Refused> {
        if !policy.admits(ip) {
            return Err(Refused::Denied);
        }
        let mut slot = self.admit(max).ok_or(Refused::ListenerFull)?;
        let limits = policy.client_limits;
        if limits == ClientLimits::default() {
            return Ok(slot);
        }
        let table = self.clients.get_or_init(ClientTable::new);
        let key = table.key(ip);
        if limits
            .max_connections
            .is_some_and(|max| table.open(key) >= max)
        {
            return Err(Refused::ClientConnections);
        }
        if let Some(rate) = limits.connection_rate {
            if !table.try_take(key, rate, Instant::now) {
                return Err(Refused::ClientRate);
            }
        }
        table.try_open(key, None);
        slot.client = Some(key);
        Ok(slot)
    }
}

impl ListenerConnections {
    /// Counts a connection given up as a [`SlotMark`] closed.
    pub fn release(&self, mark: SlotMark) {
        if let (Some(key), Some(table)) = (mark.0, self.clients.get()) {
            table.close(key);
        }
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for ListenerSlot {
    fn drop(&mut self) {
        if let Some(connections) = self.connections.take() {
            connections.release(SlotMark(self.client));
        }
    }
}
