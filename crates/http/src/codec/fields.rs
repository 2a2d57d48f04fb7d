//! Header fields of an HTTP/1 head as ranges over the bytes they arrived in, and what each
//! means to a proxy: framing, hop-by-hop, forwarding, or an ordinary end-to-end field.

/// A byte range within a head buffer (heads are bounded far below 4 GiB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

/// One header field of a head, by position, with its meaning to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: Span,
    pub(crate) value: Span,
    pub(crate) kind: FieldKind,
}

/// What a header field means to a proxy, decided once from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// End-to-end: forwarded as it came.
    Plain,
    /// `Host`.
    Host,
    /// `Content-Length`: framing, re-written by the proxy.
    ContentLength,
    /// `Transfer-Encoding`: framing, re-written by the proxy.
    TransferEncoding,
    /// `Connection`: its options are read, the field itself never forwarded.
    Connection,
    /// Another hop-by-hop field (`Keep-Alive`, `Proxy-Connection`, `TE`; `Trailer` is
    /// end-to-end and not here): never forwarded.
    HopByHop,
    /// `Upgrade`: hop-by-hop, read for protocol upgrades (WebSocket) and written afresh
    /// when one is forwarded.
    Upgrade,
    /// `X-Forwarded-For`: joined with the client's address into one field.
    ForwardedFor,
    /// `X-Forwarded-Proto` / `X-Forwarded-Port`: always Ballast's own.
    ForwardedOwn,
    /// `X-Request-Id`.
    RequestId,
    /// `traceparent`.
    TraceParent,
    /// `tracestate` (dropped with an invalid `traceparent`).
    TraceState,
    /// A field only Ballast may set towards targets (client certificate and TLS facts).
    Reserved,
    /// A name that looks like a framing or hop-by-hop field but is not one
    /// (`Transfer_Encoding`, `content_length`): a target might read it as the real thing,
    /// so it is never forwarded.
    Lookalike,
    /// `Expect`.
    Expect,
    /// `Cookie`.
    Cookie,
    /// `Set-Cookie` (responses).
    SetCookie,
    /// Named in this head's `Connection` field: hop-by-hop for this message.
    Listed,
    /// Read leniently and not a field a target may receive: its name is not a token, or it
    /// holds CR, LF or NUL. Never forwarded.
    Invalid,
}

// === impl Span ===

impl Span {
    /// The range `part` occupies in `buf`; `part` must be a sub-slice of `buf`.
    pub(crate) fn within(buf: &[u8], part: &[u8]) -> Span {
        let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
        debug_assert!(start <= buf.len() && start + part.len() <= buf.len());
        Span::new(start, start + part.len())
    }

    /// A range from offsets.
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The bytes of this range in `buf` (empty if `buf` is not the buffer it came from).
    #[inline]
    pub(crate) fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// The meaning of a header field name (any case).
pub(crate) fn classify(name: &[u8]) -> FieldKind {
    let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
    let kind = match name.len() {
        2 if is(b"te") => FieldKind::HopByHop,
        4 if is(b"host") => FieldKind::Host,
        6 if is(b"cookie") => FieldKind::Cookie,
        6 if is(b"expect") => FieldKind::Expect,
        7 if is(b"upgrade") => FieldKind::Upgrade,
        10 if is(b"connection") => FieldKind::Connection,
        10 if is(b"keep-alive") => FieldKind::HopByHop,
        10 if is(b"set-cookie") => FieldKind::SetCookie,
        10 if is(b"tracestate") => FieldKind::TraceState,
        11 if is(b"traceparent") => FieldKind::TraceParent,
        12 if is(b"x-request-id") => FieldKind::RequestId,
        13 if is(b"x-client-cert") => FieldKind::Reserved,
        14 if is(b"content-length") => FieldKind::ContentLength,
        15 if is(b"x-forwarded-for") => FieldKind::ForwardedFor,
        16 if is(b"proxy-connection") => FieldKind::HopByHop,
        16 if is(b"x-forwarded-port") => FieldKind::ForwardedOwn,
        17 if is(b"transfer-encoding") => FieldKind::TransferEncoding,
        17 if is(b"x-forwarded-proto") => FieldKind::ForwardedOwn,
        22 if is(b"x-forwarded-tls-cipher") => FieldKind::Reserved,
        23 if is(b"x-forwarded-tls-version") => FieldKind::Reserved,
        _ => FieldKind::Plain,
    };
    if kind == FieldKind::Plain && name.contains(&b'_') && looks_sensitive(name) {
        return FieldKind::Lookalike;
    }
    kind
}

/// Whether a name with underscores reads as a framing, routing or hop-by-hop field once
/// they are taken for dashes (some servers, CGI among them, do exactly that).
fn looks_sensitive(name: &[u8]) -> bool {
    let mut dashed = [0u8; 32];
    if name.len() > dashed.len() {
        return false;
    }
    for (d, &b) in dashed.iter_mut().zip(name) {
        *d = if b == b'_' { b'-' } else { b };
    }
    !matches!(classify(&dashed[..name.len()]), FieldKind::Plain)
}

/// A `Content-Length` value: one or more identical decimal numbers separated by commas
/// (RFC 9110 §8.6 lets a recipient accept `5, 5`); anything else, or a number beyond what a
/// body can be, is `None`.
pub(crate) fn content_length(value: &[u8]) -> Option<u64> {
    let mut found: Option<u64> = None;
    for part in value.split(|&b| b == b',') {
        let digits = part.trim_ascii();
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = digits.iter().try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })?;
        // Far beyond any real body; refusing it keeps every length arithmetic safe.
        if n > MAX_CONTENT_LENGTH {
            return None;
        }
        match found {
            Some(previous) if previous != n => return None,
            _ => found = Some(n),
        }
    }
    found
}

/// The largest `Content-Length` accepted (2^62 bytes): any body a real client sends fits,
/// and no sum of lengths can overflow.
pub(crate) const MAX_CONTENT_LENGTH: u64 = 1 << 62;

/// The comma-separated tokens of a list-valued field, trimmed, empty ones skipped.
pub(crate) fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Whether `value` is a `uri-host [ ":" port ]` (RFC 9110 §7.2): a registered name of
/// unreserved, percent-encoded and sub-delimiter characters, an IPv4 address or an IP
/// literal in brackets, then an optional decimal port. Empty is allowed (a request whose
/// target has no authority sends an empty `Host`).
pub(crate) fn valid_authority(value: &[u8]) -> bool {
    let (host, port) = split_port(value);
    if let Some(port) = port {
        if port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
            return false;
        }
    }
    if let Some(literal) = host.strip_prefix(b"[") {
        let Some(inner) = literal.strip_suffix(b"]") else {
            return false;
        };
        return valid_ip_literal(inner);
    }
    valid_reg_name(host)
}

/// `IPv6address / IPvFuture` (RFC 3986 §3.2.2), the inside of the brackets.
fn valid_ip_literal(inner: &[u8]) -> bool {
    if let Some(future) = inner
        .strip_prefix(b"v")
        .or_else(|| inner.strip_prefix(b"V"))
    {
        // "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
        let Some(dot) = future.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (version, rest) = (&future[..dot], &future[dot + 1..]);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !rest.is_empty()
            && rest
                .iter()
                .all(|&b| b != b'%' && (b == b':' || is_reg_name_byte(b)));
    }
    std::str::from_utf8(inner).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
}

/// `reg-name` or an IPv4 address: unreserved and sub-delimiter characters, and `%` only
/// as the start of a percent-encoded byte.
fn valid_reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = host.get(i) {
        if b == b'%' {
            let encoded = host.get(i + 1..i + 3);
            if !encoded.is_some_and(|e| e.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
            continue;
        }
        if !is_reg_name_byte(b) {
            return false;
        }
        i += 1;
    }
    true
}

/// Splits `host:port` (the port part may be empty: `host:` is allowed by RFC 3986).
fn split_port(value: &[u8]) -> (&[u8], Option<&[u8]>) {
    let colon = if value.first() == Some(&b'[') {
        let close = value.iter().position(|&b| b == b']');
        match close {
            Some(i) if value.get(i + 1) == Some(&b':') => Some(i + 1),
            _ => None,
        }
    } else {
        value.iter().rposition(|&b| b == b':')
    };
    match colon {
        Some(i) => (&value[..i], Some(&value[i + 1..])),
        None => (value, None),
    }
}

fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified_in_any_case() {
        assert_eq!(classify(b"Host"), FieldKind::Host);
        assert_eq!(classify(b"CONTENT-LENGTH"), FieldKind::ContentLength);
        assert_eq!(classify(b"transfer-encoding"), FieldKind::TransferEncoding);
        assert_eq!(classify(b"X-Forwarded-For"), FieldKind::ForwardedFor);
        assert_eq!(classify(b"x-custom"), FieldKind::Plain);
        assert_eq!(classify(b"x_custom"), FieldKind::Plain);
    }

    #[test]
    fn lookalikes_of_framing_and_hop_by_hop_names_are_caught() {
        for name in [
            &b"Transfer_Encoding"[..],
            b"content_length",
            b"CONNECTION",
            b"Host",
            b"proxy_connection",
            b"x_forwarded_for",
            b"keep_alive",
        ] {
            let kind = classify(name);
            assert!(
                name.contains(&b'_') == (kind == FieldKind::Lookalike),
                "{}: {kind:?}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn content_lengths_are_strict() {
        assert_eq!(content_length(b"0"), Some(0));
        assert_eq!(content_length(b"42"), Some(42));
        assert_eq!(content_length(b"42, 42"), Some(42));
        assert_eq!(content_length(b"0042"), Some(42));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1 2",
            b"0x10",
            b"42, 43",
            b"18446744073709551615",
            b"99999999999999999999",
            b"1,",
        ] {
            assert_eq!(
                content_length(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn authorities_are_validated() {
        for good in [
            &b"example.com"[..],
            b"example.com:8080",
            b"127.0.0.1",
            b"[::1]",
            b"[::1]:443",
            b"",
            b"a-b.c_d~e",
            b"host:",
            b"[v1.fe80::a+en1]",
            b"[2001:db8::7]:80",
            b"caf%C3%A9.example",
        ] {
            assert!(valid_authority(good), "{}", String::from_utf8_lossy(good));
        }
        for bad in [
            &b"a b"[..],
            b"a/b",
            b"user@host",
            b"host:port",
            b"[::1",
            b"[]",
            b"host:123456",
            b"a\"b",
            b"a<b>",
            b"[v a\"<>@evil]",
            b"[v1.]",
            b"[v.x]",
            b"[vg.x]",
            b"[v1.a b]",
            b"[1:2:3]",
            b"[::1 ]",
            b"a%zz",
            b"a%4",
        ] {
            assert!(!valid_authority(bad), "{}", String::from_utf8_lossy(bad));
        }
    }
}
