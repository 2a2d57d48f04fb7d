use super::*;
use crate::codec::fields::FieldKind;

const LIMITS: HeadLimits = HeadLimits {
    max_bytes: 8192,
    max_fields: 100,
};

fn parse(bytes: &[u8]) -> Result<Option<(RequestHead, Vec<Field>)>, HeadError> {
    let mut fields = Vec::new();
    parse_request(bytes, LIMITS, &mut fields).map(|h| h.map(|h| (h, fields)))
}

fn ok(bytes: &[u8]) -> (RequestHead, Vec<Field>) {
    match parse(bytes) {
        Ok(Some(head)) => head,
        other => panic!("{}: {other:?}", String::from_utf8_lossy(bytes)),
    }
}

fn refused(bytes: &[u8]) -> HeadError {
    match parse(bytes) {
        Err(e) => e,
        other => panic!("{} was accepted: {other:?}", String::from_utf8_lossy(bytes)),
    }
}

#[test]
fn a_simple_get_is_parsed_into_ranges() {
    let bytes = b"GET /a/b?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nX-Test: yes\r\n\r\nNEXT";
    let (head, fields) = ok(bytes);
    assert_eq!(head.len, bytes.len() - 4);
    assert_eq!(head.method.of(bytes), b"GET");
    assert_eq!(head.method_kind, MethodKind::Get);
    assert_eq!(head.path.of(bytes), b"/a/b");
    assert_eq!(head.query.map(|q| q.of(bytes)), Some(&b"x=1"[..]));
    assert_eq!(
        head.host.map(|h| h.of(bytes)),
        Some(&b"example.com:8080"[..])
    );
    assert_eq!(
        (head.minor, head.body, head.keep_alive),
        (1, BodyKind::None, true)
    );
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[0].kind, FieldKind::Host);
    assert_eq!(fields[1].kind, FieldKind::Plain);
    assert_eq!(fields[1].value.of(bytes), b"yes");
}

#[test]
fn partial_heads_wait_and_oversized_ones_are_refused() {
    assert!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
    assert!(parse(b"GET / HT").unwrap().is_none());
    let long_target = [b"GET /".as_slice(), &[b'a'; 9000]].concat();
    assert_eq!(refused(&long_target), HeadError::UriTooLong);
    let long_head = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 9000]].concat();
    assert_eq!(refused(&long_head), HeadError::TooLarge);
    let many: Vec<u8> = [b"GET / HTTP/1.1\r\nHost: a\r\n".as_slice()]
        .into_iter()
        .chain((0..101).map(|_| b"X: 1\r\n".as_slice()))
        .chain([b"\r\n".as_slice()])
        .flatten()
        .copied()
        .collect();
    assert_eq!(refused(&many), HeadError::TooManyFields);
}

#[test]
fn framing_follows_rfc_9112() {
    let (head, _) = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(
        (head.body, head.desync),
        (BodyKind::Length(5), DesyncReason::Compliant)
    );
    let (head, _) = ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(
        (head.body, head.desync),
        (BodyKind::Chunked, DesyncReason::Compliant)
    );
    let (head, _) = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(head.body, BodyKind::None);
}

/// Framing the client made ambiguous or broke is framed the way that ends the request
/// soonest, and classed so the listener's mode refuses it or closes after it.
#[test]
fn disputed_framing_is_classified_and_framed_the_safe_way() {
    use DesyncReason::*;
    for (bytes, body, reason) in [
        (&b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..], BodyKind::Chunked, BothTeClPresent),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", BodyKind::Chunked, BothTeClPresent),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", BodyKind::Length(5), DuplicateContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", BodyKind::None, MultipleContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", BodyKind::None, BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", BodyKind::None, BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", BodyKind::None, BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1_0\r\n\r\n", BodyKind::None, BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", BodyKind::None, MultipleTransferEncodingChunked),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", BodyKind::None, BadTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n", BodyKind::Length(3), BothTeClPresent),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", BodyKind::Chunked, UndefinedTransferEncodingSemantics),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", BodyKind::None, GetHeadZeroContentLength),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n", BodyKind::Length(4), UndefinedContentLengthSemantics),
    ] {
        let (head, _) = ok(bytes);
        assert_eq!((head.body, head.desync), (body, reason), "{}", String::from_utf8_lossy(bytes));
    }
}

#[test]
fn lookalike_framing_fields_are_marked_not_obeyed() {
    let bytes =
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nContent_Length: 99\r\n\r\n";
    let (head, fields) = ok(bytes);
    assert_eq!(
        head.body,
        BodyKind::None,
        "only the real names frame a body"
    );
    assert_eq!(head.desync, DesyncReason::SuspiciousHeader);
    assert!(fields[1..].iter().all(|f| f.kind == FieldKind::Lookalike));
}

#[test]
fn hosts_are_validated() {
    assert_eq!(
        refused(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        HeadError::InvalidHost
    );
    assert_eq!(
        refused(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        HeadError::InvalidHost
    );
    assert_eq!(
        refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        HeadError::InvalidHost
    );
    assert_eq!(refused(b"GET / HTTP/1.1\r\n\r\n"), HeadError::MissingHost);
    let (head, _) = ok(b"GET / HTTP/1.0\r\n\r\n");
    assert!(head.host.is_none(), "HTTP/1.0 may leave Host out");
    ok(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    ok(b"GET / HTTP/1.1\r\nHost:\r\n\r\n");
}

#[test]
fn request_targets_are_checked() {
    let bytes = b"GET http://Example.com:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n";
    let (head, _) = ok(bytes);
    assert_eq!(
        head.authority.map(|a| a.of(bytes)),
        Some(&b"Example.com:81"[..])
    );
    assert_eq!(head.path.of(bytes), b"/p");
    assert_eq!(head.query.map(|q| q.of(bytes)), Some(&b"q"[..]));
    let bytes = b"GET https://example.com HTTP/1.1\r\n\r\n";
    let (head, _) = ok(bytes);
    assert!(head.path.of(bytes).is_empty(), "an empty path is `/`");
    ok(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    let bytes = b"GET /p#frag HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(ok(bytes).0.path.of(bytes), b"/p");
    for bytes in [
        &b"GET evil.com HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET evil.com:443 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http://user:pw@host/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET ftp://host/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET javascript:alert(1) HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        assert_eq!(
            refused(bytes),
            HeadError::BadTarget,
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert_eq!(
        refused(b"CONNECT evil.com:443 HTTP/1.1\r\nHost: evil.com:443\r\n\r\n"),
        HeadError::Connect
    );
}

#[test]
fn heads_httparse_refuses_are_read_leniently_and_classified() {
    use DesyncReason::*;
    for (bytes, reason) in [
        (&b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"[..], BadVersion),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", NonCompliantVersion),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n",
            NonCompliantHeader,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
            NonCompliantHeader,
        ),
        (
            b"GET / HTTP/1.1\r\nHo\x00st: a\r\nHost: a\r\n\r\n",
            BadHeader,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            MultilineHeader,
        ),
        (b"GET / HTTP/1.1\r\nX: a\rb\r\nHost: a\r\n\r\n", BadHeader),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", SpaceInUri),
        (b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", AmbiguousUri),
    ] {
        let (head, fields) = ok(bytes);
        assert_eq!(head.desync, reason, "{}", String::from_utf8_lossy(bytes));
        assert!(head.lenient);
        // Fields that are no `token: value` never reach a target.
        for f in &fields {
            let name = f.name.of(bytes);
            if !name.iter().all(|&b| crate::codec::desync::is_tchar(b)) {
                assert_eq!(
                    f.kind,
                    FieldKind::Invalid,
                    "{}",
                    String::from_utf8_lossy(name)
                );
            }
        }
    }
    // Nothing that reads as a request line at all.
    for bytes in [&b"\x16\x03\x01\x02\x00\r\n\r\n"[..], b"GET\r\n\r\n"] {
        assert!(matches!(refused(bytes), HeadError::Malformed(_)));
    }
    // A target that is no target: refused whatever the mode.
    assert_eq!(
        refused(b"G ET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        HeadError::BadTarget
    );
    assert_eq!(
        refused(b"GET \x00/a HTTP/1.1\r\nHost: a\r\n\r\n"),
        HeadError::Desync(BadUri)
    );
    // A method that is no token cannot be written to a target as it came.
    assert_eq!(
        refused(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
        HeadError::Desync(BadMethod)
    );
}

#[test]
fn keep_alive_follows_the_version_and_connection_options() {
    assert!(
        !ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .0
            .keep_alive
    );
    assert!(
        !ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, keep-alive\r\n\r\n")
            .0
            .keep_alive
    );
    assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").0.keep_alive);
    assert!(
        ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .0
            .keep_alive
    );
    assert!(
        ok(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n")
            .0
            .expect_continue
    );
}

#[test]
fn fields_named_in_connection_are_marked_hop_by_hop() {
    let bytes = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x-secret, Host\r\nX-Secret: 1\r\nX-Kept: 1\r\n\r\n";
    let (_, fields) = ok(bytes);
    let kind = |name: &[u8]| {
        fields
            .iter()
            .find(|f| f.name.of(bytes) == name)
            .map(|f| f.kind)
    };
    assert_eq!(kind(b"X-Secret"), Some(FieldKind::Listed));
    assert_eq!(kind(b"X-Kept"), Some(FieldKind::Plain));
    assert_eq!(
        kind(b"Host"),
        Some(FieldKind::Host),
        "Host is never dropped"
    );
}

proptest::proptest! {
    /// Whatever the bytes, the parser answers without panicking, and every range it gives
    /// lies within the head it reports.
    #[test]
    fn any_bytes_parse_or_are_refused(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let mut fields = Vec::new();
        if let Ok(Some(head)) = parse_request(&bytes, LIMITS, &mut fields) {
            proptest::prop_assert!(head.len <= bytes.len());
            for f in &fields {
                proptest::prop_assert!(f.value.of(&bytes).len() <= head.len);
            }
        }
    }
}

#[test]
fn upgrades_need_both_fields_on_http_1_1_and_never_name_h2c() {
    let upgrade = |bytes: &[u8]| {
        let (head, _) = ok(bytes);
        head.upgrade
            .map(|u| String::from_utf8_lossy(u.of(bytes)).into_owned())
    };
    assert_eq!(
        upgrade(
            b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        )
        .as_deref(),
        Some("websocket")
    );
    // The option may sit among others, in any case.
    assert_eq!(
        upgrade(
            b"GET / HTTP/1.1\r\nHost: a\r\nconnection: keep-alive, UPGRADE\r\nupgrade: WebSocket\r\n\r\n"
        )
        .as_deref(),
        Some("WebSocket")
    );
    // `Upgrade` alone, `Connection: upgrade` alone, HTTP/1.0, an empty list, and h2c (which
    // would ask Ballast itself to switch) are ordinary requests.
    for bytes in [
        &b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: \r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
    ] {
        assert_eq!(upgrade(bytes), None, "{}", String::from_utf8_lossy(bytes));
    }
    // `Upgrade` is hop-by-hop: never forwarded as a field of its own.
    let (_, fields) =
        ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert!(fields.iter().any(|f| f.kind == FieldKind::Upgrade));
}

#[test]
fn codings_before_a_final_chunked_are_kept_for_the_target() {
    let parse = |te: &str| {
        let text = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n");
        let (head, _) = ok(text.as_bytes());
        (head.body, head.codings, head.desync)
    };
    let chunked = |codings| (BodyKind::Chunked, codings, DesyncReason::Compliant);
    assert_eq!(parse("chunked"), chunked(false));
    assert_eq!(parse("gzip, chunked"), chunked(true));
    assert_eq!(parse("gzip ,deflate,  Chunked "), chunked(true));
    assert_eq!(parse("gzip;q=1, chunked"), chunked(true));
    for (bad, reason) in [
        ("gzip", DesyncReason::BadTransferEncoding),
        ("chunked, gzip", DesyncReason::BadTransferEncoding),
        (
            "chunked, chunked",
            DesyncReason::MultipleTransferEncodingChunked,
        ),
        ("gzip,, chunked", DesyncReason::BadTransferEncoding),
        (", chunked", DesyncReason::BadTransferEncoding),
        ("\"gzip\", chunked", DesyncReason::BadTransferEncoding),
        ("chunkedx", DesyncReason::BadTransferEncoding),
    ] {
        assert_eq!(parse(bad), (BodyKind::None, false, reason), "{bad}");
    }
}
