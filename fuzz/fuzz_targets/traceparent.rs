//! A client's `traceparent` and `X-Request-Id` values. Parsing must never panic; what it
//! accepts must be a valid trace context that survives being written out and read back, and
//! a version-00 value must be written back exactly as it came.
#![no_main]

use ballast_telemetry::trace::{acceptable_request_id, TraceParent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if acceptable_request_id(data) {
        // What is kept goes into access-log fields: short, visible ASCII only.
        assert!(data.len() <= 128 && data.iter().all(u8::is_ascii_graphic));
    }
    let Some(parent) = TraceParent::parse(data) else {
        return;
    };
    assert!(parent.trace_id != 0 && parent.parent_id != 0);
    let header = parent.to_header();
    assert_eq!(TraceParent::parse(&header), Some(parent));
    if data.starts_with(b"00") {
        assert_eq!(&header[..], data);
    }
    assert_eq!(parent.trace_id_hex().len(), 32);
});
