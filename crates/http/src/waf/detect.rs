//! SQL injection and cross-site scripting detection: libinjection's detectors, through
//! `libinjectionrs` (a Rust port: the C bindings on crates.io download their sources at
//! build time, which an offline build cannot do).
//!
//! The port is young: a panic inside it must not take a worker down, so every call is
//! caught, and an input the detector cannot read counts as an attack (whoever crafted it
//! meant the detector harm).

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Inputs longer than this are cut: libinjection reads a value's start, and attacks fit.
const MAX_INPUT: usize = 64 * 1024;

/// Whether `value` is SQL injection.
pub(crate) fn sqli(value: &[u8]) -> bool {
    let value = &value[..value.len().min(MAX_INPUT)];
    catch_unwind(AssertUnwindSafe(|| {
        libinjectionrs::detect_sqli(value).is_injection()
    }))
    .unwrap_or(true)
}

/// Whether `value` is cross-site scripting.
pub(crate) fn xss(value: &[u8]) -> bool {
    let value = &value[..value.len().min(MAX_INPUT)];
    catch_unwind(AssertUnwindSafe(|| {
        libinjectionrs::detect_xss(value).is_injection()
    }))
    .unwrap_or(true)
}
