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

/// Slots of a client table (a power of two): 256 KiB of connection counts per listener
/// that sets `client_limits`, and 512 KiB more of buckets once it sets a connection rate.
pub const CLIENT_SLOTS: usize = 1 << 16;

/// Token counts are kept in 256ths, so a rate below one per millisecond still adds up.
const SCALE: u64 = 256;

/// Most tokens a bucket holds: with [`SCALE`], what fits the 32 bits a slot keeps them in.
pub const MAX_BURST: u32 = 10_000_000;

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
    /// Made when a connection rate is first checked.
    buckets: std::sync::OnceLock<BucketTable>,
    seed: u64,
}

/// The two slots of one client, packed (16 bits each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientKey(u32);

impl ClientKey {
    /// The key of a 64-bit hash (of a client, or of any other key).
    pub fn of_hash(h: u64) -> Self {
        ClientKey(((h >> 32) as u32 & 0xffff_0000) | (h as u32 & 0xffff))
    }

    fn slots(self) -> [usize; 2] {
        [(self.0 >> 16) as usize, (self.0 & 0xffff) as usize]
    }
}

impl ClientTable {
    /// An empty table with a random hash key (so nobody can aim collisions at a client).
    pub fn new() -> Self {
        Self {
            open: (0..CLIENT_SLOTS).map(|_| AtomicU32::new(0)).collect(),
            buckets: std::sync::OnceLock::new(),
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
        ClientKey::of_hash(mix(raw ^ self.seed))
    }

    /// Connections the client of `key` has open (at least; see the module's comment).
    pub fn open(&self, key: ClientKey) -> u32 {
        key.slots()
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
        for i in key.slots() {
            self.open[i].fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Counts a connection of `key` closed.
    pub fn close(&self, key: ClientKey) {
        for i in key.slots() {
            // Never below zero, whatever a bug elsewhere did.
            let _ = self.open[i]
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Takes one token for a new connection of `key`, reading the time from `clock` (see
    /// [`BucketTable::try_take`]).
    pub fn try_take(&self, key: ClientKey, rate: Rate, clock: impl Fn() -> Instant) -> bool {
        self.buckets
            .get_or_init(BucketTable::new)
            .try_take(key, Bucket::per_second(rate), clock)
    }
}

impl Default for ClientTable {
    fn default() -> Self {
        Self::new()
    }
}

/// The shape of a token bucket: `amount` tokens every `period_ms`, at most `burst` held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Tokens added per period.
    pub amount: u32,
    /// The period, in milliseconds.
    pub period_ms: u32,
    /// Tokens held at most.
    pub burst: u32,
}

impl Bucket {
    /// `rate.per_second` a second, `rate.burst` at most.
    pub fn per_second(rate: Rate) -> Self {
        Self {
            amount: rate.per_second,
            period_ms: 1000,
            burst: rate.burst,
        }
    }

    /// `amount` a minute, a minute's worth at most.
    pub fn per_minute(amount: u32) -> Self {
        Self {
            amount,
            period_ms: 60_000,
            burst: amount,
        }
    }

    /// Whole seconds until an empty bucket has a token again (at least 1): a
    /// `Retry-After`.
    pub fn refill_seconds(&self) -> u32 {
        let ms = u64::from(self.period_ms).div_ceil(u64::from(self.amount.max(1)));
        ms.div_ceil(1000).max(1) as u32
    }
}

/// Token buckets for keys in a fixed table of [`CLIENT_SLOTS`] atomic words (512 KiB),
/// a key counting in two slots as [`ClientTable`] does. Each word holds the tokens (in
/// 256ths, plus one; 0 marks a slot never used, which is full) in its high half, and when
/// they were last added, in microsecond ticks since `epoch`, in its low half. That clock
/// wraps every 71 minutes: a slot left alone for a whole multiple of that (give or take the
/// time the bucket takes to fill) is refilled for less than it waited, never more.
#[derive(Debug)]
pub struct BucketTable {
    words: Box<[AtomicU64]>,
    epoch: Instant,
}

impl BucketTable {
    /// Every bucket full.
    pub fn new() -> Self {
        Self {
            words: (0..CLIENT_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            epoch: Instant::now(),
        }
    }

    /// Takes one token for `key`, if either of its slots has one (each slot that has one
    /// pays, so a busy key drains its own slots and a quiet one sharing a slot still has
    /// the other). The time is read from `clock` after each load of a slot, so it is never
    /// older than the time another worker stored there (a stale time would look like a
    /// clock wrap, a whole refill).
    pub fn try_take(&self, key: ClientKey, bucket: Bucket, clock: impl Fn() -> Instant) -> bool {
        let mut any = false;
        for i in key.slots() {
            let mut had = false;
            let _ = self.words[i].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
                // Wraps every 71 minutes (see above).
                // Microsecond ticks: a refill rounds the time it uses up to a whole tick (never
                // crediting time twice); 16 µs ticks lost 1.8% of 20 a second asked every
                // millisecond, 1 µs loses 0.05%.
                let tick = clock().saturating_duration_since(self.epoch).as_micros() as u32;
                let (tokens, at) = refill(word, tick, bucket);
                had = tokens >= SCALE;
                // A slot short of a token keeps what it has gathered towards the next one.
                let left = if had { tokens - SCALE } else { tokens };
                Some(((left + 1) << 32) | u64::from(at))
            });
            any |= had;
        }
        any
    }
}

impl Default for BucketTable {
    fn default() -> Self {
        Self::new()
    }
}

/// The tokens (in 256ths) of a bucket word at `tick`, and the time they are counted up
/// to: the time that made no whole 256th yet is kept for the next call, so a slow rate
/// asked often still adds up. A fresh slot (0) is full.
fn refill(word: u64, tick: u32, bucket: Bucket) -> (u64, u32) {
    let full = u64::from(bucket.burst.min(MAX_BURST)) * SCALE;
    if word == 0 {
        return (full, tick);
    }
    let tokens = (word >> 32).saturating_sub(1);
    let last = word as u32;
    let elapsed = u64::from(tick.wrapping_sub(last));
    let per_period = u64::from(bucket.amount).max(1) * SCALE;
    let period = u64::from(bucket.period_ms.max(1)) * 1000;
    let added = elapsed.saturating_mul(per_period) / period;
    if tokens.saturating_add(added) >= full {
        return (full, tick);
    }
    // The ticks the added 256ths took (rounded up: never credit time twice); the rest
    // carries over.
    let used = (added * period).div_ceil(per_period).min(elapsed);
    (tokens + added, last.wrapping_add(used as u32))
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
        waf_rule: None,
        waf_action: None,
        classification: None,
        classification_reason: None,
    });
}
