//! A `Cookie` header searched for one cookie's values (`consistent_hash` on a cookie). The
//! input is `NAME=HEADER` or `NAME\0HEADER`: split at the first `=` or NUL, so the fuzzer
//! varies the cookie name (which comes from the configuration) as well as the header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (name, header) = match data.iter().position(|&b| b == b'=' || b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    ballast_http::fuzzing::cookie_values(header, name);
});
