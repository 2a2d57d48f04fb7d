use super::*;
use proptest::prelude::*;
use std::sync::Arc;

/// The first flight of a real client: rustls (ring) connecting to `server_name` with `alpn`.
fn rustls_hello(server_name: &str, alpn: &[Vec<u8>]) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    config.alpn_protocols = alpn.to_vec();
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned()).unwrap();
    let mut connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut out = Vec::new();
    connection.write_tls(&mut out).unwrap();
    out
}

fn info(server_name: Option<&str>, alpn: &[&[u8]]) -> ClientHelloInfo {
    ClientHelloInfo {
        server_name: server_name.map(str::to_owned),
        alpn: alpn.iter().map(|p| p.to_vec()).collect(),
    }
}

fn vec8(bytes: &[u8]) -> Vec<u8> {
    [&[u8::try_from(bytes.len()).unwrap()][..], bytes].concat()
}

fn vec16(bytes: &[u8]) -> Vec<u8> {
    [
        &u16::try_from(bytes.len()).unwrap().to_be_bytes()[..],
        bytes,
    ]
    .concat()
}

fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
    [&kind.to_be_bytes()[..], &vec16(data)].concat()
}

fn sni(name: &[u8]) -> Vec<u8> {
    extension(
        EXTENSION_SERVER_NAME,
        &vec16(&[&[NAME_TYPE_HOST_NAME][..], &vec16(name)].concat()),
    )
}

fn alpn_extension(protocols: &[&[u8]]) -> Vec<u8> {
    let list: Vec<u8> = protocols.iter().flat_map(|p| vec8(p)).collect();
    extension(EXTENSION_ALPN, &vec16(&list))
}

/// A ClientHello body (TLS 1.2 layout) with the given extension block, or none at all.
fn hello_body(extensions: Option<&[u8]>) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.extend(vec8(&[1; 32]));
    body.extend(vec16(&[0x13, 0x01, 0xc0, 0x2f]));
    body.extend(vec8(&[0]));
    if let Some(extensions) = extensions {
        body.extend(vec16(extensions));
    }
    body
}

/// A handshake message of `kind` around `body`.
fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let length = u32::try_from(body.len()).unwrap().to_be_bytes();
    [&[kind][..], &length[1..], body].concat()
}

fn record(kind: u8, body: &[u8]) -> Vec<u8> {
    [&[kind, 3, 1][..], &vec16(body)].concat()
}

/// `handshake` cut into handshake records of the given sizes, the last size repeating.
fn records(handshake: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = handshake;
    let mut sizes = sizes
        .iter()
        .copied()
        .chain(std::iter::repeat(*sizes.last().unwrap()));
    while !rest.is_empty() {
        let (fragment, tail) = rest.split_at(sizes.next().unwrap().clamp(1, rest.len()));
        out.extend(record(HANDSHAKE_RECORD, fragment));
        rest = tail;
    }
    out
}

/// A hello in one record with the given extensions.
fn hello(extensions: &[Vec<u8>]) -> Vec<u8> {
    record(
        HANDSHAKE_RECORD,
        &handshake(CLIENT_HELLO, &hello_body(Some(&extensions.concat()))),
    )
}

#[test]
fn rustls_hello_with_sni_and_alpn() {
    let alpn = [b"h2".to_vec(), b"http/1.1".to_vec()];
    let buf = rustls_hello("db.example.com", &alpn);
    assert_eq!(
        peek(&buf),
        Ok(Peek::Complete(info(
            Some("db.example.com"),
            &[b"h2", b"http/1.1"]
        )))
    );
    // Whatever follows the hello (early data, a second flight) does not matter.
    let mut more = buf.clone();
    more.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
    assert_eq!(peek(&more), peek(&buf));
}

#[test]
fn rustls_hello_without_sni_or_alpn() {
    // rustls sends no server_name when it connects by IP address.
    assert_eq!(
        peek(&rustls_hello("192.0.2.1", &[])),
        Ok(Peek::Complete(info(None, &[])))
    );
}

#[test]
fn hello_without_extensions() {
    let buf = record(
        HANDSHAKE_RECORD,
        &handshake(CLIENT_HELLO, &hello_body(None)),
    );
    assert_eq!(peek(&buf), Ok(Peek::Complete(ClientHelloInfo::default())));
}

#[test]
fn server_names_are_lowered_and_lose_a_trailing_dot() {
    let buf = hello(&[
        extension(0xfe0d, b"ech"),
        sni(b"DB.Example.COM."),
        alpn_extension(&[b"x"]),
    ]);
    assert_eq!(
        peek(&buf),
        Ok(Peek::Complete(info(Some("db.example.com"), &[b"x"])))
    );
    let long_label = [b'a'; MAX_LABEL_BYTES];
    let buf = hello(&[sni(&long_label)]);
    assert!(matches!(peek(&buf), Ok(Peek::Complete(_))));
    let longest: Vec<u8> = [
        &[b'a'; 63][..],
        b".",
        &[b'b'; 63],
        b".",
        &[b'c'; 63],
        b".",
        &[b'd'; 61],
    ]
    .concat();
    assert_eq!(longest.len(), MAX_NAME_BYTES);
    assert!(matches!(
        peek(&hello(&[sni(&longest)])),
        Ok(Peek::Complete(_))
    ));
}

#[test]
fn invalid_server_names_are_malformed() {
    let too_long: Vec<u8> = [
        &[b'a'; 63][..],
        b".",
        &[b'b'; 63],
        b".",
        &[b'c'; 63],
        b".",
        &[b'd'; 62],
    ]
    .concat();
    for name in [
        &b""[..],
        b".",
        b"a..b",
        b".a",
        b"a.b..",
        b"under_score.example",
        b"sp ace",
        b"nul\0.example",
        b"caf\xc3\xa9.example",
        b"a/b",
        &[b'a'; 64],
        &too_long,
    ] {
        let result = peek(&hello(&[sni(name)]));
        assert!(
            matches!(result, Err(HelloError::Malformed(_))),
            "{:?}: {result:?}",
            String::from_utf8_lossy(name)
        );
    }
}

#[test]
fn server_name_list_rules() {
    let entry = |kind: u8, name: &[u8]| [&[kind][..], &vec16(name)].concat();
    let list = |entries: &[Vec<u8>]| hello(&[extension(0, &vec16(&entries.concat()))]);
    // An entry of another type is skipped.
    let buf = list(&[entry(7, b"\xff"), entry(0, b"a.example")]);
    assert_eq!(peek(&buf), Ok(Peek::Complete(info(Some("a.example"), &[]))));
    assert_eq!(
        peek(&list(&[entry(7, b"x")])),
        Ok(Peek::Complete(info(None, &[])))
    );
    for broken in [
        list(&[]),
        list(&[entry(0, b"a"), entry(0, b"b")]),
        hello(&[sni(b"a"), sni(b"a")]),
        hello(&[extension(0, &[0, 4, 0, 0, 1, b'a', 0])]),
        hello(&[extension(0, &[0, 5, 0, 0, 1, b'a'])]),
    ] {
        assert!(
            matches!(peek(&broken), Err(HelloError::Malformed(_))),
            "{broken:?}"
        );
    }
}

#[test]
fn alpn_list_rules() {
    for broken in [
        hello(&[alpn_extension(&[])]),
        hello(&[alpn_extension(&[b"h2", b""])]),
        hello(&[alpn_extension(&[b"h2"]), alpn_extension(&[b"h2"])]),
        hello(&[extension(EXTENSION_ALPN, &[0, 4, 2, b'h', b'2'])]),
        hello(&[extension(EXTENSION_ALPN, &[0, 3, 2, b'h', b'2', 0])]),
    ] {
        assert!(
            matches!(peek(&broken), Err(HelloError::Malformed(_))),
            "{broken:?}"
        );
    }
}

#[test]
fn broken_hello_bodies_are_malformed() {
    let body = hello_body(Some(&sni(b"a")));
    let framed = |body: &[u8]| record(HANDSHAKE_RECORD, &handshake(CLIENT_HELLO, body));
    let mut trailing = body.clone();
    trailing.push(0);
    let mut long_session = hello_body(None);
    long_session[34] = 33;
    long_session.splice(35..35, [1; 1]);
    for broken in [
        framed(&[]),
        framed(&body[..40]),
        framed(&trailing),
        framed(&long_session),
    ] {
        assert!(
            matches!(peek(&broken), Err(HelloError::Malformed(_))),
            "{broken:?}"
        );
    }
}

#[test]
fn not_tls_and_not_a_client_hello() {
    assert_eq!(peek(b""), Ok(Peek::Incomplete));
    assert_eq!(peek(b"\x16"), Ok(Peek::Incomplete));
    assert_eq!(peek(b"GET / HTTP/1.1\r\n"), Err(HelloError::NotTls));
    assert_eq!(
        peek(b"\x80\x2e\x01\x03\x01"),
        Err(HelloError::NotTls),
        "SSL 2 hello"
    );
    assert_eq!(peek(b"\x16\x02"), Err(HelloError::NotTls));
    assert_eq!(
        peek(b"\x16\x03\x01\x00\x04\x02"),
        Err(HelloError::NotClientHello)
    );
}

#[test]
fn record_sequence_rules() {
    let message = handshake(CLIENT_HELLO, &hello_body(Some(&sni(b"a"))));
    let (head, tail) = message.split_at(20);
    let first = record(HANDSHAKE_RECORD, head);
    // An alert or change_cipher_spec record before the hello ends.
    for kind in [20, 21, 23] {
        let buf = [first.clone(), record(kind, tail)].concat();
        assert!(
            matches!(peek(&buf), Err(HelloError::Malformed(_))),
            "{kind}"
        );
        assert!(
            matches!(peek(&buf[..first.len() + 1]), Err(HelloError::Malformed(_))),
            "{kind}, early"
        );
    }
    let wrong_version = [first.clone(), vec![22, 2, 0]].concat();
    assert!(matches!(
        peek(&wrong_version),
        Err(HelloError::Malformed(_))
    ));
    assert!(
        matches!(peek(&[22, 3, 1, 0, 0]), Err(HelloError::Malformed(_))),
        "empty record"
    );
    assert!(
        matches!(peek(&[22, 3, 1, 0x40, 1]), Err(HelloError::Malformed(_))),
        "record over 2^14"
    );
    assert_eq!(
        peek(&[22, 3, 1, 0x40, 0]),
        Ok(Peek::Incomplete),
        "record of 2^14"
    );
}

#[test]
fn size_limits() {
    // Declared over 16 KiB: refused from its header alone.
    assert_eq!(
        peek(&[22, 3, 1, 0, 4, 1, 0, 0x40, 1]),
        Err(HelloError::TooLarge)
    );
    // 16 KiB of body (padding) across two records is accepted.
    let without = hello_body(Some(&[sni(b"big.example"), extension(21, &[])].concat()));
    let padding = extension(21, &vec![0; MAX_HANDSHAKE_BYTES - without.len()]);
    let body = hello_body(Some(&[sni(b"big.example"), padding].concat()));
    assert_eq!(body.len(), MAX_HANDSHAKE_BYTES);
    let message = handshake(CLIENT_HELLO, &body);
    let buf = records(&message, &[MAX_RECORD_BYTES]);
    assert!(buf.len() <= MAX_HELLO_BYTES);
    assert_eq!(
        peek(&buf),
        Ok(Peek::Complete(info(Some("big.example"), &[])))
    );
    // Cut into one-byte records, it no longer fits: read no further than the bound.
    let buf = records(&message, &[1]);
    assert_eq!(peek(&buf[..MAX_HELLO_BYTES - 1]), Ok(Peek::Incomplete));
    assert_eq!(peek(&buf[..MAX_HELLO_BYTES]), Err(HelloError::TooLarge));
}

// === properties ===

fn dns_names() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}[a-z0-9](\\.[a-z][a-z0-9]{0,8}){1,3}"
}

fn alpn_lists() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..12), 0..4)
}

/// The handshake message inside a rustls first flight (one record).
fn rustls_message(buf: &[u8]) -> &[u8] {
    assert_eq!(buf[0], HANDSHAKE_RECORD);
    assert_eq!(
        buf.len(),
        RECORD_HEADER_BYTES + usize::from(u16::from_be_bytes([buf[3], buf[4]]))
    );
    &buf[RECORD_HEADER_BYTES..]
}

proptest! {
    #[test]
    fn every_split_of_a_real_hello(name in dns_names(), alpn in alpn_lists()) {
        let buf = rustls_hello(&name, &alpn);
        let expected = ClientHelloInfo { server_name: Some(name), alpn };
        for end in 0..buf.len() {
            prop_assert_eq!(peek(&buf[..end]), Ok(Peek::Incomplete), "prefix of {}", end);
        }
        prop_assert_eq!(peek(&buf), Ok(Peek::Complete(expected)));
    }

    #[test]
    fn any_record_fragmentation(name in dns_names(), alpn in alpn_lists(), sizes in proptest::collection::vec(1usize..300, 1..8)) {
        let original = rustls_hello(&name, &alpn);
        let buf = records(rustls_message(&original), &sizes);
        let expected = Ok(Peek::Complete(ClientHelloInfo { server_name: Some(name), alpn }));
        prop_assert_eq!(&peek(&buf), &expected);
        for end in (0..buf.len()).step_by(7) {
            prop_assert_eq!(peek(&buf[..end]), Ok(Peek::Incomplete), "prefix of {}", end);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        // Raw, and behind a handshake record and ClientHello header so the body parser runs.
        let _ = peek(&bytes);
        let wrapped = record(HANDSHAKE_RECORD, &handshake(CLIENT_HELLO, &bytes));
        let _ = peek(&wrapped);
    }

    /// A verdict never changes as more bytes arrive: before the hello is whole only
    /// `Incomplete` or the same class of error. Run on damaged real hellos, which reach the
    /// checks deep inside.
    #[test]
    fn verdicts_are_final_on_damaged_hellos(name in dns_names(), at in any::<prop::sample::Index>(), byte in any::<u8>(), sizes in proptest::collection::vec(1usize..300, 1..4)) {
        let original = rustls_hello(&name, &[b"h2".to_vec()]);
        let mut buf = records(rustls_message(&original), &sizes);
        let at = at.index(buf.len());
        buf[at] = byte;
        let whole = peek(&buf);
        for end in 0..buf.len() {
            let partial = peek(&buf[..end]);
            match (&whole, &partial) {
                (_, Ok(Peek::Incomplete)) => {}
                (Ok(Peek::Complete(_)), Ok(Peek::Complete(_))) => prop_assert_eq!(&whole, &partial),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "prefix of {} gives {:?}, whole {:?}", end, partial, whole),
            }
        }
    }
}
