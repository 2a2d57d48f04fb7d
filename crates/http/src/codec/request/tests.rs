use super::*;

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
    assert_eq!(head.body, BodyKind::Length(5));
    let (head, _) =
        ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(
        head.body,
        BodyKind::Length(5),
        "identical duplicates are one length"
    );
    let (head, _) = ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(head.body, BodyKind::Chunked);
    let (head, _) = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(head.body, BodyKind::None);
    for (bytes, error) in [
        (&b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..], HeadError::AmbiguousFraming),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", HeadError::AmbiguousFraming),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", HeadError::BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", HeadError::BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", HeadError::BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1_0\r\n\r\n", HeadError::BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", HeadError::BadTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", HeadError::BadTransferEncoding),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", HeadError::BadTransferEncoding),
    ] {
        assert_eq!(refused(bytes), error, "{}", String::from_utf8_lossy(bytes));
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
fn malformed_heads_are_refused() {
    for bytes in [
        &b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo\x00st: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\rb\r\nHost: a\r\n\r\n",
        b"G ET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        assert!(
            matches!(refused(bytes), HeadError::Malformed(_)),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
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
        let buf = text.into_bytes();
        parse(&buf).map(|head| {
            let (head, _) = head.unwrap();
            let codings = head
                .codings
                .map(|c| String::from_utf8(c.of(&buf).to_vec()).unwrap());
            (head.body, codings)
        })
    };
    assert_eq!(parse("chunked"), Ok((BodyKind::Chunked, None)));
    assert_eq!(
        parse("gzip, chunked"),
        Ok((BodyKind::Chunked, Some("gzip".into())))
    );
    assert_eq!(
        parse("gzip ,deflate,  Chunked "),
        Ok((BodyKind::Chunked, Some("gzip ,deflate".into())))
    );
    for bad in [
        "gzip",
        "chunked, gzip",
        "chunked, chunked",
        "gzip,, chunked",
        ", chunked",
        "gzip;q=1, chunked",
        "\"gzip\", chunked",
        "chunkedx",
    ] {
        assert_eq!(parse(bad), Err(HeadError::BadTransferEncoding), "{bad}");
    }
}
