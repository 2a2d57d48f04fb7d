//! Who a listener lets in, decided at accept before a byte is read: `allow` and `deny`
//! blocks, the listener's `max_connections`, and the per client address limits
//! (`client_limits`: connections open at once, new connections per second).
//!
//! Clients are counted in a fixed table of atomic counters shared by every worker, so its
//! memory does not grow with the number of addresses that connect (a flood from millions of
//! addresses costs nothing more). Each client maps to two slots through a keyed hash, and
//! its count is the smaller of the two (a count-min sketch): a client is limited only when
//! both of its slots are over the limit, which another address inflates only by colliding
//! on both. Counts can exceed a limit by the connections accepted at the same instant on
//! other workers. IPv6 clients are counted by their /64, the block one host is given.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use ballast_config::Rate;

/// Slots of a client table (a power of two): 1 MiB per listener that sets `client_limits`.
pub const CLIENT_SLOTS: usize = 1 << 16;

/// Token counts are kept in sixteenths, so a rate below one per millisecond still adds up.
const SCALE: u64 = 16;

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The client's address is not allowed, or denied.
    Denied,
    /// The listener has `max_connections` open.
    ListenerFull,
    /// The client has `client_limits.max_connections` open.
    ClientConnections,
    /// The client opened more than `client_limits.connections_per_second` (and its burst).
    ClientRate,
}

/// The counters of one listener's clients.
#[derive(Debug)]
pub struct ClientTable {
    open: Box<[AtomicU32]>,
    /// Per slot: tokens in sixteenths (high 32 bits) and when they were last added, in ms
    /// since `epoch` (low 32 bits; wraps after 49 days, which only delays one refill).
    buckets: Box<[AtomicU64]>,
    epoch: Instant,
    seed: u64,
}

/// The two slots of one client, packed (16 bits each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientKey(u32);

impl ClientTable {
    /// An empty table with a random hash key (so nobody can aim collisions at a client).
    pub fn new() -> Self {
        Self {
            open: (0..CLIENT_SLOTS).map(|_| AtomicU32::new(0)).collect(),
            buckets: (0..CLIENT_SLOTS)
                .map(|_| AtomicU64::new(u64::MAX))
                .collect(),
            epoch: Instant::now(),
            seed: fastrand::u64(..),
        }
    }

    /// The slots of a client at `ip`.
    pub fn key(&self, ip: IpAddr) -> ClientKey {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let raw = match ip {
            IpAddr::V4(v4) => u64::from(u32::from(v4)),
            // The /64 of an IPv6 client, marked apart from every IPv4 key.
            IpAddr::V6(v6) => ((u128::from(v6) >> 64) as u64) ^ (1 << 63) ^ 0x5555_5555,
        };
        let h = mix(raw ^ self.seed);
        ClientKey(((h >> 32) as u32 & 0xffff_0000) | (h as u32 & 0xffff))
    }

    fn slots(key: ClientKey) -> [usize; 2] {
        [(key.0 >> 16) as usize, (key.0 & 0xffff) as usize]
    }

    /// Connections the client of `key` has open (at least; see the module's comment).
    pub fn open(&self, key: ClientKey) -> u32 {
        Self::slots(key)
            .iter()
            .map(|&i| self.open[i].load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }

    /// Counts one more open connection unless the client has `max` open already.
    pub fn try_open(&self, key: ClientKey, max: Option<u32>) -> bool {
        if max.is_some_and(|max| self.open(key) >= max) {
            return false;
        }
        for i in Self::slots(key) {
            self.open[i].fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Counts a connection of `key` closed.
    pub fn close(&self, key: ClientKey) {
        for i in Self::slots(key) {
            // Never below zero, whatever a bug elsewhere did.
            let _ = self.open[i]
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Takes one token for a new connection of `key` at `now`, if either slot has one
    /// (both pay for it).
    pub fn try_take(&self, key: ClientKey, rate: Rate, now: Instant) -> bool {
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u32;
        let mut any = false;
        for i in Self::slots(key) {
            let mut had = false;
            let _ = self.buckets[i].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
                let tokens = refill(word, ms, rate);
                had = tokens >= SCALE;
                Some((tokens.saturating_sub(SCALE) << 32) | u64::from(ms))
            });
            any |= had;
        }
        any
    }
}

impl Default for ClientTable {
    fn default() -> Self {
        Self::new()
    }
}

/// The tokens (in sixteenths) of a bucket word at `ms`: a fresh slot (`u64::MAX`) is full.
fn refill(word: u64, ms: u32, rate: Rate) -> u64 {
    let full = u64::from(rate.burst) * SCALE;
    if word == u64::MAX {
        return full;
    }
    let tokens = word >> 32;
    let elapsed = u64::from(ms.wrapping_sub(word as u32));
    let added = elapsed.saturating_mul(u64::from(rate.per_second)) * SCALE / 1000;
    tokens.saturating_add(added).min(full)
}

/// A 64-bit finalizer (splitmix64's): every input bit moves every output bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests;

impl Refused {
    /// The reason the access log writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Denied => "Client.AccessDenied",
            Self::ListenerFull => "Listener.MaxConnections",
            Self::ClientConnections => "Client.MaxConnections",
            Self::ClientRate => "Client.ConnectionRate",
        }
    }

    /// The `limit` label it counts under.
    pub fn limit(self) -> ballast_telemetry::metrics::Limit {
        use ballast_telemetry::metrics::Limit;
        match self {
            Self::Denied => Limit::AccessDenied,
            Self::ListenerFull => Limit::MaxConnections,
            Self::ClientConnections => Limit::ClientMaxConnections,
            Self::ClientRate => Limit::ClientConnectionRate,
        }
    }
}

/// Counts a connection refused at accept, and writes its access-log line: one per
/// refused connection, so an operator sees who was kept out and why (the log's queue is
/// bounded, so a flood of refusals cannot grow memory). A full listener is only counted,
/// as before these limits existed.
pub fn refused(
    refused: Refused,
    listener: &ballast_config::ListenerName,
    protocol: ballast_config::ListenerProtocol,
    client: std::net::SocketAddr,
    metrics: Option<&ballast_telemetry::metrics::ListenerMetrics>,
    sink: Option<&ballast_telemetry::AccessLog>,
) {
    if let Some(m) = metrics {
        m.limit_hit(refused.limit());
    }
    let Some(sink) = sink.filter(|_| refused != Refused::ListenerFull) else {
        return;
    };
    sink.log(ballast_telemetry::AccessLogLine {
        time: ballast_telemetry::timestamp(std::time::SystemTime::now()),
        listener: listener.to_string(),
        client: client.to_string(),
        target: None,
        request_processing_time: -1.0,
        target_processing_time: -1.0,
        response_processing_time: -1.0,
        status: 0,
        target_status: None,
        received_bytes: 0,
        sent_bytes: 0,
        request: protocol.name().to_owned(),
        user_agent: None,
        tls_protocol: None,
        tls_cipher: None,
        target_group: None,
        rule: "default".to_owned(),
        action: "reject",
        trace_id: None,
        request_id: None,
        error_reason: Some(refused.as_str()),
    });
}
