//! A chunked body from a client or a target, fed to the decoder in pieces as reads deliver
//! it. The first byte chooses the piece size, so one input also exercises every split of the
//! framing across reads (a size line, a CRLF or a trailer cut in two).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    // 0 means "all at once"; otherwise pieces of 1..=255 bytes.
    let step = match first {
        0 => body.len().max(1),
        n => usize::from(n),
    };
    ballast_http::fuzzing::chunked_body(body, step);
});
