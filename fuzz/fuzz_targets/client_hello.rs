//! The first bytes of a TLS passthrough connection, peeked for the ClientHello's server name
//! and ALPN: must never panic, must give up (not ask for more) once the bound is reached, and
//! a server name it reports must be a lower-case DNS name as routing compares it.
#![no_main]

use ballast_l4::client_hello::{peek, Peek, MAX_HELLO_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match peek(data) {
        Ok(Peek::Incomplete) => assert!(data.len() < MAX_HELLO_BYTES),
        Ok(Peek::Complete(info)) => {
            if let Some(name) = &info.server_name {
                assert!(!name.is_empty() && name.len() <= 253 && !name.ends_with('.'));
                let allowed =
                    |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.';
                assert!(name.bytes().all(allowed));
            }
            let protocol = |name: &Vec<u8>| !name.is_empty() && name.len() <= 255;
            assert!(info.alpn.iter().all(protocol));
        }
        Err(_) => {}
    }
});
