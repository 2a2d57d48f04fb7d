//! The request id and W3C trace context every forwarded request carries, so a request can be
//! followed from Ballast's access log into the target's logs.

use ballast_telemetry::trace::{acceptable_request_id, request_id, TraceParent};

use crate::exchange::Exchange;
use crate::head::FieldLookup;

/// The ids a request is sent with: the client's when acceptable, else new ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ids {
    /// A new `X-Request-Id`, replacing a missing or refused one.
    pub(crate) request_id: Option<[u8; 32]>,
    /// A new `traceparent`, replacing a missing or invalid one (its `tracestate` goes too,
    /// as the spec asks).
    pub(crate) traceparent: Option<[u8; 55]>,
}

/// Keeps a client's request id and valid `traceparent`, or makes new ones; notes them in the
/// exchange's log line.
pub(crate) fn plan_ids(fields: &dyn FieldLookup, exchange: &mut Exchange) -> Ids {
    let kept_id = fields
        .first_field("x-request-id")
        .filter(|v| acceptable_request_id(v));
    let fresh_id = kept_id.is_none().then(|| request_id(fastrand::u128(..)));
    let parent = fields
        .first_field("traceparent")
        .and_then(TraceParent::parse);
    let (trace, fresh_parent) = match parent {
        Some(parent) => (parent, None),
        None => {
            let started = TraceParent::start(fastrand::u128(..), fastrand::u64(..));
            (started, Some(started.to_header()))
        }
    };
    if exchange.logging() {
        let id: &[u8] = match (&fresh_id, kept_id) {
            (Some(fresh), _) => fresh,
            (None, Some(kept)) => kept,
            (None, None) => b"-",
        };
        exchange.set_ids(|| trace.trace_id_hex(), id);
    }
    Ids {
        request_id: fresh_id,
        traceparent: fresh_parent,
    }
}
