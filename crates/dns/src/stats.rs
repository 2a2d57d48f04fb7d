//! What the server counts: queries by type and answers by response code, per transport, and
//! answers rate limiting held back. Relaxed atomics, read by the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// Query types counted apart; the rest are `other`.
pub const QUERY_TYPES: [&str; 11] = [
    "A", "AAAA", "CNAME", "TXT", "SRV", "MX", "CAA", "SOA", "NS", "ANY", "other",
];

/// Response codes counted apart; the rest are `other`.
pub const RCODES: [&str; 7] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other",
];

/// The server's counters.
#[derive(Debug, Default)]
pub struct DnsStats {
    /// Queries by type, as [`QUERY_TYPES`].
    pub queries: [AtomicU64; QUERY_TYPES.len()],
    /// Answers by response code, as [`RCODES`].
    pub responses: [AtomicU64; RCODES.len()],
    /// Queries over TCP.
    pub tcp_queries: AtomicU64,
    /// UDP answers sent truncated because they did not fit.
    pub truncated: AtomicU64,
    /// UDP answers rate limiting sent truncated instead.
    pub rate_limited_slipped: AtomicU64,
    /// UDP answers rate limiting dropped.
    pub rate_limited_dropped: AtomicU64,
}

impl DnsStats {
    /// Counts a query of `qtype`.
    pub fn query(&self, qtype: RecordType) {
        let i = match qtype {
            RecordType::A => 0,
            RecordType::AAAA => 1,
            RecordType::CNAME => 2,
            RecordType::TXT => 3,
            RecordType::SRV => 4,
            RecordType::MX => 5,
            RecordType::CAA => 6,
            RecordType::SOA => 7,
            RecordType::NS => 8,
            RecordType::ANY => 9,
            _ => 10,
        };
        self.queries[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an answer with `code`.
    pub fn response(&self, code: ResponseCode) {
        let i = match code {
            ResponseCode::NoError => 0,
            ResponseCode::FormErr => 1,
            ResponseCode::ServFail => 2,
            ResponseCode::NXDomain => 3,
            ResponseCode::NotImp => 4,
            ResponseCode::Refused => 5,
            _ => 6,
        };
        self.responses[i].fetch_add(1, Ordering::Relaxed);
    }

    /// `(name, count)` of every query type.
    pub fn queries(&self) -> Vec<(&'static str, u64)> {
        QUERY_TYPES
            .iter()
            .zip(&self.queries)
            .map(|(n, c)| (*n, c.load(Ordering::Relaxed)))
            .collect()
    }

    /// `(name, count)` of every response code.
    pub fn responses(&self) -> Vec<(&'static str, u64)> {
        RCODES
            .iter()
            .zip(&self.responses)
            .map(|(n, c)| (*n, c.load(Ordering::Relaxed)))
            .collect()
    }
}
