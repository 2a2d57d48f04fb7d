//! The desync classification of an HTTP/1 request: how likely two HTTP engines are to
//! disagree on where it ends. The classes and reason codes are those of AWS's
//! `http_desync_guardian`, the classifier behind ALB's desync mitigation modes, so users
//! read the same words in Ballast's access log; the checks are Ballast's own, made while
//! its parser reads the head, and tested against that crate's public corpus.
//!
//! Pure: bytes in, a reason out. What its class leads to (served, served then closed,
//! refused) is the listener's mode: [`action`].

use ballast_config::DesyncMode;
pub(crate) use ballast_telemetry::desync::{DesyncClass, DesyncReason};

/// What a listener does with a request of some class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DesyncAction {
    /// Served as any request.
    Serve,
    /// Served, then the client connection and the target connection are closed: whatever
    /// either side made of the bytes after it, nobody else's request follows them.
    ServeThenClose,
    /// Answered `400` and the connection closed.
    Refuse,
}

/// The mode's decision for a class (ALB's table: monitor serves all; defensive serves
/// compliant and acceptable, serves ambiguous then closes, refuses severe; strictest
/// serves compliant only). Wherever a non-compliant request is served, Ballast's framing
/// towards the target is its own, and in monitor mode ambiguous and severe ones close both
/// connections after them too: logged, never refused, never followed.
pub(crate) fn action(mode: DesyncMode, class: DesyncClass) -> DesyncAction {
    match (mode, class) {
        (_, DesyncClass::Compliant) => DesyncAction::Serve,
        (DesyncMode::Monitor | DesyncMode::Defensive, DesyncClass::Acceptable) => {
            DesyncAction::Serve
        }
        (DesyncMode::Monitor | DesyncMode::Defensive, DesyncClass::Ambiguous)
        | (DesyncMode::Monitor, DesyncClass::Severe) => DesyncAction::ServeThenClose,
        (DesyncMode::Defensive, DesyncClass::Severe) | (DesyncMode::Strictest, _) => {
            DesyncAction::Refuse
        }
    }
}

/// How a field compares to RFC 9110's field syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FieldTier {
    Compliant,
    /// A control or non-token character: forwarded only if its name is a token.
    NonCompliant,
    /// CR, LF or NUL: never forwarded.
    Bad,
}

/// A framing field a name imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Imitated {
    TransferEncoding,
    ContentLength,
}

/// The transfer codings a recipient can name (RFC 9112 §7 and the registry), `identity`
/// included as the classifier accepts it.
const CODINGS: [&[u8]; 5] = [b"chunked", b"compress", b"deflate", b"gzip", b"identity"];

/// Raises `verdict` for a field of this tier.
pub(crate) fn field(verdict: &mut DesyncReason, tier: FieldTier) {
    match tier {
        FieldTier::Compliant => {}
        FieldTier::NonCompliant => verdict.raise(DesyncReason::NonCompliantHeader),
        FieldTier::Bad => verdict.raise(DesyncReason::BadHeader),
    }
}

/// CR, LF and NUL: never part of a field or target in any engine's reading.
#[inline]
fn is_bad(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | 0)
}

/// `tchar` (RFC 9110 §5.6.2).
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// How a field's name and value compare to the field syntax.
pub(crate) fn field_tier(name: &[u8], value: &[u8]) -> FieldTier {
    let mut tier = FieldTier::Compliant;
    for &b in name {
        if is_bad(b) {
            return FieldTier::Bad;
        }
        if !is_tchar(b) {
            tier = FieldTier::NonCompliant;
        }
    }
    for &b in value {
        if is_bad(b) {
            return FieldTier::Bad;
        }
        if !(b == b'\t' || (b' '..0x7f).contains(&b) || b >= 0x80) {
            tier = FieldTier::NonCompliant;
        }
    }
    tier
}

/// The framing field `name` imitates without being it: the same letters once characters
/// that are not letters or digits are taken out, and case, `ſ` (long s) and `ı` (dotless
/// i) folded, as some engines fold them. `None` for the real fields and everything else.
pub(crate) fn imitated(name: &[u8]) -> Option<Imitated> {
    // Cheap refusal first: an imitation has at least the letters of the field it imitates.
    if name.len() < 13 {
        return None;
    }
    if name.eq_ignore_ascii_case(b"transfer-encoding")
        || name.eq_ignore_ascii_case(b"content-length")
    {
        return None;
    }
    if same_letters(b"transferencoding", name) {
        Some(Imitated::TransferEncoding)
    } else if same_letters(b"contentlength", name) {
        Some(Imitated::ContentLength)
    } else {
        None
    }
}

/// Whether the letters and digits of `name`, folded, are exactly `letters`.
fn same_letters(letters: &[u8], name: &[u8]) -> bool {
    let mut want = letters.iter();
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        let (folded, width) = match (b, name.get(i + 1)) {
            (0xc5, Some(0xbf)) => (b's', 2),
            (0xc4, Some(0xb1)) => (b'i', 2),
            _ => (b.to_ascii_lowercase(), 1),
        };
        i += width;
        if width == 1 && !b.is_ascii_alphanumeric() {
            continue;
        }
        if want.next() != Some(&folded) {
            return false;
        }
    }
    want.next().is_none()
}

/// A `Content-Length` value as the classifier reads it: digits only, spaces and tabs
/// around them (a list such as `5, 5` is not a length), and no more than Ballast frames.
pub(crate) fn length_value(value: &[u8]) -> Option<u64> {
    let digits = trim_ows(value);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    (n <= super::fields::MAX_CONTENT_LENGTH).then_some(n)
}

/// What the `Transfer-Encoding` fields of a request say, read element by element across
/// all of them (RFC 9110 §5.3 lets a list be split over several fields).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Codings {
    /// `Transfer-Encoding` fields seen.
    pub(crate) fields: u16,
    /// A coding no recipient can name, or an empty element.
    pub(crate) unknown: bool,
    /// `chunked` right after `chunked`.
    pub(crate) chunked_twice: bool,
    /// `chunked` somewhere other than last.
    pub(crate) chunked_early: bool,
    /// The last element read was `chunked`.
    pub(crate) last_chunked: bool,
    /// Codings other than `chunked` were seen (passed on to the target before its own
    /// `chunked`).
    pub(crate) others: bool,
    /// The first severe finding, in the order the elements came.
    pub(crate) severe: Option<DesyncReason>,
}

// === impl Codings ===

impl Codings {
    /// Reads one `Transfer-Encoding` field's value.
    pub(crate) fn add(&mut self, value: &[u8]) {
        self.fields = self.fields.saturating_add(1);
        for element in value.split(|&b| b == b',') {
            let coding = trim_ows(element);
            let name = match coding.iter().position(|&b| b == b';') {
                Some(i) => trim_ows(&coding[..i]),
                None => coding,
            };
            let Some(known) = CODINGS.iter().find(|c| c.eq_ignore_ascii_case(name)) else {
                self.unknown = true;
                self.last_chunked = false;
                self.severe.get_or_insert(DesyncReason::BadTransferEncoding);
                continue;
            };
            let chunked = *known == b"chunked";
            if chunked && self.last_chunked {
                self.chunked_twice = true;
                self.severe
                    .get_or_insert(DesyncReason::MultipleTransferEncodingChunked);
            }
            if self.last_chunked && !chunked {
                self.chunked_early = true;
            }
            if !chunked {
                self.others = true;
            }
            self.last_chunked = chunked;
        }
    }

    /// Whether a body can be framed by these codings: known codings ending in one
    /// `chunked`.
    pub(crate) fn frames(&self) -> bool {
        self.fields > 0
            && !self.unknown
            && !self.chunked_twice
            && !self.chunked_early
            && self.last_chunked
    }
}

/// The class of a request target (the classifier's reading: any byte above space but
/// DEL is fine).
pub(crate) fn target(target: &[u8], verdict: &mut DesyncReason) {
    for &b in target {
        if b > b' ' && b != 0x7f {
            continue;
        }
        if is_bad(b) {
            verdict.raise(DesyncReason::BadUri);
            return;
        }
        verdict.raise(if b == b' ' {
            DesyncReason::SpaceInUri
        } else {
            DesyncReason::AmbiguousUri
        });
    }
}

/// `value` without the spaces and tabs around it (RFC 9110's OWS; no other whitespace).
pub(crate) fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// Whether a method is a token.
pub(crate) fn method_ok(method: &[u8]) -> bool {
    !method.is_empty() && method.iter().all(|&b| is_tchar(b))
}

#[cfg(test)]
mod tests;
