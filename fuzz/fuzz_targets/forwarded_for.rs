//! An `X-Forwarded-For` value arriving through a trusted proxy, read for `source_ip` rules.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ballast_http::fuzzing::forwarded_for(data);
});
