//! The request id and W3C trace context every forwarded request carries, so a request can be
//! followed from Ballast's access log into the target's logs.

use ballast_telemetry::trace::{acceptable_request_id, request_id, TraceParent};
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use crate::exchange::Exchange;

/// The request id header (as Heroku, NGINX's `$request_id` convention and Envoy use).
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// W3C Trace Context.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Keeps a client's request id and valid `traceparent`, or adds new ones. An invalid
/// `traceparent` restarts the trace and drops `tracestate` with it, as the spec asks.
pub(crate) fn stamp_ids(headers: &mut HeaderMap, exchange: &mut Exchange) {
    let id = match headers.get(REQUEST_ID) {
        Some(v) if acceptable_request_id(v.as_bytes()) => v.clone(),
        _ => {
            let fresh = request_id(fastrand::u128(..));
            let value = HeaderValue::from_bytes(&fresh).unwrap_or(HeaderValue::from_static("-"));
            headers.insert(REQUEST_ID, value.clone());
            value
        }
    };
    let parent = headers
        .get(TRACEPARENT)
        .and_then(|v| TraceParent::parse(v.as_bytes()));
    let trace = match parent {
        Some(parent) => parent,
        None => {
            let started = TraceParent::start(fastrand::u128(..), fastrand::u64(..));
            headers.remove(TRACESTATE);
            if let Ok(value) = HeaderValue::from_bytes(&started.to_header()) {
                headers.insert(TRACEPARENT, value);
            }
            started
        }
    };
    if exchange.logging() {
        exchange.set_ids(|| trace.trace_id_hex(), id.as_bytes());
    }
}
