//! What an L4 listener counts beyond the common listener counters: connections not
//! forwarded, by reason, and how forwarded ones ended.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Why an L4 connection (or UDP flow) was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its source is not in `accept_proxy_protocol`.
    UntrustedProxy,
    /// Its PROXY header was malformed, too long or late.
    BadProxyHeader,
    /// It closed before sending what routing needed.
    ClientClosed,
    /// Its TLS handshake failed or timed out (`tls` listeners).
    Handshake,
    /// A `reject` action closed it.
    Rejected,
    /// Its group had no target to take it.
    NoTarget,
    /// Ballast ran out of file descriptors.
    Exhausted,
    /// The target (and the one tried after it) refused or did not answer.
    TargetFailed,
}

impl Refusal {
    /// Every reason, in the order of [`L4Counters::refused`].
    pub const ALL: [Refusal; 8] = [
        Refusal::UntrustedProxy,
        Refusal::BadProxyHeader,
        Refusal::ClientClosed,
        Refusal::Handshake,
        Refusal::Rejected,
        Refusal::NoTarget,
        Refusal::Exhausted,
        Refusal::TargetFailed,
    ];

    /// The reason as the access log and the `reason` label write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UntrustedProxy => "Client.UntrustedProxy",
            Self::BadProxyHeader => "Client.BadProxyHeader",
            Self::ClientClosed => "Client.Closed",
            Self::Handshake => "Client.TlsHandshake",
            Self::Rejected => "Listener.Rejected",
            Self::NoTarget => "Target.NotAvailable",
            Self::Exhausted => "Ballast.ResourceExhausted",
            Self::TargetFailed => "Target.ConnectionRefused",
        }
    }
}

/// How a forwarded L4 connection ended, for the `ending` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Both sides ended their streams.
    Closed,
    /// Idle for the idle timeout.
    Idle,
    /// The client reset or failed.
    ClientReset,
    /// The target reset or failed.
    TargetReset,
    /// The target's deregistration delay ended.
    Deregistered,
    /// A UDP flow forgotten to make room in a full flow table (`max_udp_flows`).
    Evicted,
}

impl Ending {
    /// Every ending, in the order of [`L4Counters::ended`].
    pub const ALL: [Ending; 6] = [
        Ending::Closed,
        Ending::Idle,
        Ending::ClientReset,
        Ending::TargetReset,
        Ending::Deregistered,
        Ending::Evicted,
    ];

    /// The `ending` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Idle => "idle_timeout",
            Self::ClientReset => "client_reset",
            Self::TargetReset => "target_reset",
            Self::Deregistered => "target_deregistered",
            Self::Evicted => "evicted",
        }
    }

    /// The access log's `error_reason` (`None`: an ordinary end).
    pub fn error_reason(self) -> Option<&'static str> {
        match self {
            Self::Closed => None,
            Self::Idle => Some("Connection.IdleTimeout"),
            Self::ClientReset => Some("Client.Reset"),
            Self::TargetReset => Some("Target.Reset"),
            Self::Deregistered => Some("Target.Deregistered"),
            Self::Evicted => Some("Listener.FlowTableFull"),
        }
    }
}

/// The L4 counters of one listener.
#[derive(Debug, Default)]
pub struct L4Counters {
    /// Set once the listener is an L4 one: only those have these series.
    pub active: AtomicBool,
    refused: [AtomicU64; Refusal::ALL.len()],
    ended: [AtomicU64; Ending::ALL.len()],
}

impl L4Counters {
    /// Marks the listener as L4.
    pub fn mark(&self) {
        self.active.store(true, Ordering::Relaxed);
    }

    /// Whether the listener is L4.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Counts a connection not forwarded.
    pub fn refuse(&self, reason: Refusal) {
        self.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a forwarded connection that ended.
    pub fn end(&self, ending: Ending) {
        self.ended[ending as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections not forwarded for `reason` so far.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refused[reason as usize].load(Ordering::Relaxed)
    }

    /// Forwarded connections that ended as `ending` so far.
    pub fn ended(&self, ending: Ending) -> u64 {
        self.ended[ending as usize].load(Ordering::Relaxed)
    }
}

/// What an L4 target counts beyond the common target counters, as each of its connections
/// (or UDP flows) ends.
#[derive(Debug, Default)]
pub struct L4TargetCounters {
    /// Set once the target is in an L4 group: only those have these series.
    active: AtomicBool,
    sent_bytes: AtomicU64,
    received_bytes: AtomicU64,
    ended: [AtomicU64; Ending::ALL.len()],
}

impl L4TargetCounters {
    /// Marks the target as an L4 one.
    pub fn mark(&self) {
        self.active.store(true, Ordering::Relaxed);
    }

    /// Whether the target is in an L4 group.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Counts a connection that ended as `ending`, with the bytes sent to the target and
    /// received from it.
    pub fn end(&self, ending: Ending, sent: u64, received: u64) {
        self.sent_bytes.fetch_add(sent, Ordering::Relaxed);
        self.received_bytes.fetch_add(received, Ordering::Relaxed);
        self.ended[ending as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes sent to the target so far.
    pub fn sent_bytes(&self) -> u64 {
        self.sent_bytes.load(Ordering::Relaxed)
    }

    /// Bytes received from the target so far.
    pub fn received_bytes(&self) -> u64 {
        self.received_bytes.load(Ordering::Relaxed)
    }

    /// Its connections that ended as `ending` so far.
    pub fn ended(&self, ending: Ending) -> u64 {
        self.ended[ending as usize].load(Ordering::Relaxed)
    }
}
