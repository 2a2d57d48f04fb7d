use super::*;

fn added<'a>(ops: Option<&'a HeaderOps>) -> Added<'a> {
    Added {
        client: b"10.0.0.7",
        proto: b"http",
        port: b"8080",
        request_id: None,
        traceparent: None,
        tls: [None, None, None],
        ops,
    }
}

fn request(fields: &[(&[u8], &[u8])], body: BodyKind, add: &Added<'_>) -> String {
    let line = TargetLine {
        method: b"GET",
        path: b"/p",
        query: Some(b"q=1"),
        host: Some(b"example.com"),
        body,
        codings: false,
        escape: false,
        close: false,
        upgrade: None,
    };
    let classified: Vec<FieldRef<'_>> = fields
        .iter()
        .map(|(n, v)| (*n, *v, super::super::fields::classify(n)))
        .collect();
    let mut out = Vec::new();
    write_request_head(&mut out, &line, classified.iter().copied(), add);
    String::from_utf8(out).unwrap()
}

#[test]
fn the_target_gets_a_canonical_head_with_forwarding_fields() {
    let head = request(
        &[
            (b"Accept", b"*/*"),
            (b"X-Forwarded-For", b"1.1.1.1"),
            (b"Connection", b"keep-alive"),
            (b"Transfer_Encoding", b"chunked"),
            (b"X-Forwarded-Proto", b"https"),
            (b"Keep-Alive", b"timeout=5"),
            (b"x-forwarded-for", b"2.2.2.2, 3.3.3.3"),
            (b"X-Client-Cert", b"forged"),
        ],
        BodyKind::Length(3),
        &added(None),
    );
    assert_eq!(
        head,
        "GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\
         X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.7\r\n\
         X-Forwarded-Proto: http\r\nX-Forwarded-Port: 8080\r\nContent-Length: 3\r\n\r\n"
    );
}

#[test]
fn new_ids_replace_the_clients_and_rewrites_apply() {
    let rewrite = ballast_config::HeaderRewrite {
        set: vec![("X-Env".into(), "prod".into())],
        add: vec![],
        remove: vec!["x-debug".into()],
    };
    let ops = HeaderOps::build(&rewrite, None).unwrap();
    let mut add = added(Some(&ops));
    add.request_id = Some(b"abc");
    let head = request(
        &[
            (b"X-Request-Id", b"bad id"),
            (b"X-Debug", b"1"),
            (b"X-Env", b"dev"),
            (
                b"traceparent",
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
        BodyKind::Chunked,
        &add,
    );
    assert!(
        !head.contains("bad id") && head.contains("X-Request-Id: abc\r\n"),
        "{head}"
    );
    assert!(
        head.contains("traceparent: 00-4bf9"),
        "a valid traceparent is kept: {head}"
    );
    assert!(!head.contains("X-Debug") && !head.contains("dev"), "{head}");
    assert!(
        head.contains("X-Env: prod\r\n") && head.ends_with("Transfer-Encoding: chunked\r\n\r\n"),
        "{head}"
    );
}

#[test]
fn responses_keep_end_to_end_fields_and_get_ballasts_framing() {
    let fields: Vec<FieldRef<'_>> = [
        (&b"Content-Type"[..], &b"text/plain"[..]),
        (b"Content-Length", b"5"),
        (b"Connection", b"close"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Set-Cookie", b"a=1"),
        (b"Keep-Alive", b"timeout=5"),
    ]
    .iter()
    .map(|(n, v)| (*n, *v, super::super::fields::classify(n)))
    .collect();
    let mut out = Vec::new();
    let cookie: &[u8] = b"Set-Cookie: AWSALB=x";
    let line = ResponseLine {
        status: 200,
        reason: b"",
        framing: ClientFraming::Chunked,
        length: None,
        connection: Connection::Close,
    };
    write_response_head(&mut out, line, fields.iter().copied(), &[cookie], None);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: AWSALB=x\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let mut out = Vec::new();
    let line = ResponseLine {
        status: 299,
        reason: b"Fine",
        framing: ClientFraming::AsIs,
        length: Some(5),
        connection: Connection::Default,
    };
    write_response_head(&mut out, line, fields.iter().copied(), &[], None);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 299 Fine\r\n")
            && text.matches("Content-Length").count() == 1
            && text.contains("Content-Length: 5\r\n"),
        "{text}"
    );
}

#[test]
fn only_the_checked_request_id_and_traceparent_reach_the_target() {
    let head = request(
        &[
            (b"X-Request-Id", b"checked-1"),
            (
                b"traceparent",
                b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            (b"X-Request-Id", b"<script>"),
            (b"traceparent", b"forged"),
        ],
        BodyKind::None,
        &added(None),
    );
    assert_eq!(head.matches("X-Request-Id").count(), 1, "{head}");
    assert_eq!(head.matches("traceparent").count(), 1, "{head}");
    assert!(head.contains("X-Request-Id: checked-1\r\n"), "{head}");
    assert!(
        !head.contains("forged") && !head.contains("<script>"),
        "{head}"
    );
}

#[test]
fn codings_spread_over_fields_escaped_targets_and_close_reach_the_target_as_one_reading() {
    let line = TargetLine {
        method: b"POST",
        path: b"/a b\x01",
        query: Some(b"q=x y"),
        host: Some(b"example.com"),
        body: BodyKind::Chunked,
        codings: true,
        escape: true,
        close: true,
        upgrade: None,
    };
    let fields: [FieldRef<'_>; 3] = [
        (b"Transfer-Encoding", b"gzip ;", FieldKind::TransferEncoding),
        (
            b"Transfer-Encoding",
            b"deflate, chunked;p",
            FieldKind::TransferEncoding,
        ),
        (b"X X", b"dropped", FieldKind::Invalid),
    ];
    let mut out = Vec::new();
    write_request_head(&mut out, &line, fields.iter().copied(), &added(None));
    let head = String::from_utf8(out).unwrap();
    assert!(
        head.starts_with("POST /a%20b%01?q=x%20y HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
    assert!(
        head.contains("\r\nTransfer-Encoding: gzip, deflate, chunked\r\n"),
        "{head}"
    );
    assert_eq!(head.matches("Transfer-Encoding").count(), 1, "{head}");
    assert!(!head.contains("dropped"), "{head}");
}
