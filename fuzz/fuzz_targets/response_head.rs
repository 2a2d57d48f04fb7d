//! A target's response head, as the HTTP/1 proxy parses it: targets are not trusted to be
//! well-formed, so this must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ballast_http::fuzzing::response_head(data);
});
