//! The configuration loader (`ballast check`, startup, reloads and the admin API all parse
//! through it): any text must give a `Config` or errors, never a panic, and every error
//! must stay short whatever the input, since errors are echoed into logs, the terminal and
//! API responses (the crate shortens echoed values to `MAX_ECHOED_VALUE` for that reason).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Longest rendering of one error accepted. An error names a key path (a few keys deep), a
/// shortened value and what was expected: well under this. Inputs run to 16 KiB (ci.sh's
/// `-max_len`), so a value echoed whole breaks it.
const MAX_ERROR_TEXT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    // The loader reads files as UTF-8 text (`read_to_string`); other bytes never reach it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = ballast_config::parse(text) {
        assert!(!errors.errors().is_empty(), "an error without errors");
        for error in errors.errors() {
            let shown = error.to_string();
            assert!(
                shown.len() <= MAX_ERROR_TEXT,
                "error text of {} bytes from {} bytes of input: {}…",
                shown.len(),
                data.len(),
                shown.chars().take(200).collect::<String>(),
            );
        }
    }
});
