//! A request path, normalised the way rules see it (percent-decoding of unreserved
//! characters, `.`/`..` and `//` removed): must never panic nor grow beyond the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ballast_http::fuzzing::normalized_path(data);
});
