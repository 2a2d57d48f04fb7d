//! A client's request head, as the HTTP/1 server parses it from its read buffer: must never
//! panic, and every range it reports must lie within the head.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ballast_http::fuzzing::request_head(data);
});
