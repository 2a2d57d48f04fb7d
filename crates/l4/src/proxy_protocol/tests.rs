use super::*;
use proptest::prelude::*;
use std::net::SocketAddrV6;

fn complete(addresses: Option<ProxyAddresses>, authority: Option<&str>, consumed: usize) -> Parsed {
    Parsed::Complete {
        addresses,
        authority: authority.map(str::to_owned),
        consumed,
    }
}

fn addresses(source: &str, destination: &str) -> ProxyAddresses {
    ProxyAddresses {
        source: source.parse().unwrap(),
        destination: destination.parse().unwrap(),
    }
}

/// A v2 header: fixed part with `version_command` and `family`, then `block` (addresses and
/// TLVs), the length computed.
fn v2(version_command: u8, family: u8, block: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.extend_from_slice(&[version_command, family]);
    out.extend_from_slice(&u16::try_from(block.len()).unwrap().to_be_bytes());
    out.extend_from_slice(block);
    out
}

// Byte 14 values by name.
const V2_UNSPEC: u8 = 0x00;
const V2_TCP4: u8 = 0x11;
const V2_TCP6: u8 = 0x21;
const V2_UDP6: u8 = 0x22;
const V2_UNIX_STREAM: u8 = 0x31;
const V2_UNIX_DGRAM: u8 = 0x32;

/// The TCP4 address block of 192.0.2.1:56324 → 192.0.2.11:443.
const INET_BLOCK: [u8; 12] = [192, 0, 2, 1, 192, 0, 2, 11, 0xdc, 0x04, 0x01, 0xbb];

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
    out
}

// === v1 ===

#[test]
fn v1_tcp4_from_the_spec_stops_at_the_payload() {
    let buf = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
    let expected = addresses("192.168.0.1:56324", "192.168.0.11:443");
    assert_eq!(parse(buf), Ok(complete(Some(expected), None, 47)));
}

#[test]
fn v1_tcp6_and_unknown() {
    let buf = b"PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 0 65535\r\n";
    let expected = addresses("[2001:db8::1]:0", "[::ffff:192.0.2.1]:65535");
    assert_eq!(parse(buf), Ok(complete(Some(expected), None, buf.len())));
    assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Ok(complete(None, None, 15)));
    // The spec: anything after UNKNOWN up to the CRLF is ignored.
    let unknown = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\nxyz";
    assert_eq!(parse(unknown), Ok(complete(None, None, unknown.len() - 3)));
}

#[test]
fn v1_refuses_what_the_spec_does_not_allow() {
    let cases: &[&[u8]] = &[
        b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",    // two spaces
        b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",    // leading zero
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", // port out of range
        b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",    // sign
        b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n",         // family mismatch
        b"PROXY TCP6 ::1 1.2.3.4 1 2\r\n",         // family mismatch
        b"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n",    // octet with a leading zero
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",       // too few fields
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",   // too many
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",    // trailing space
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",       // LF without CR
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r2\r\n",    // stray CR
        b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",     // case
        b"PROXY UNKNOWNX\r\n",                     // not UNKNOWN
        b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",    // zone id
    ];
    for case in cases {
        assert!(
            matches!(parse(case), Err(ProxyError::Malformed(_))),
            "{:?}: {:?}",
            String::from_utf8_lossy(case),
            parse(case)
        );
    }
}

#[test]
fn v1_refuses_a_bad_line_before_its_end() {
    for case in [
        &b"PROXY TCP5"[..],
        b"PROXY  ",
        b"PROXY TCP4 1.2.3.400",
        b"PROXY TCP4 1.2.3.4.",
        b"PROXY TCP4 01",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536",
        b"PROXY TCP6 ::1 ::g",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r",
        b"PROXY UNKNOWN \rx",
    ] {
        assert!(
            matches!(parse(case), Err(ProxyError::Malformed(_))),
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
}

#[test]
fn v1_without_crlf_in_107_bytes_is_too_long() {
    let mut line = b"PROXY UNKNOWN ".to_vec();
    line.resize(106, b'x');
    assert_eq!(parse(&line), Ok(Parsed::Incomplete));
    line.push(b'x');
    assert_eq!(parse(&line), Err(ProxyError::TooLong));
    // 107 bytes with the CRLF last is the longest allowed.
    line.truncate(105);
    line.extend_from_slice(b"\r\n");
    assert_eq!(parse(&line), Ok(complete(None, None, 107)));
}

#[test]
fn signatures_and_their_prefixes() {
    for prefix in [&b""[..], b"P", b"PROXY", b"\r\n\r\n", b"\r\n\r\n\0\r\nQUIT"] {
        assert_eq!(parse(prefix), Ok(Parsed::Incomplete), "{prefix:?}");
    }
    for other in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"PROXX",
        b"PROXY\r\n",
        b"\r\n\r\n\0\r\nQUIX",
        b"\x16\x03\x01",
    ] {
        assert_eq!(parse(other), Err(ProxyError::NotProxy), "{other:?}");
    }
}

// === v2 ===

#[test]
fn v2_tcp4_with_tlvs() {
    let mut block = INET_BLOCK.to_vec();
    block.extend(tlv(0x04, b"")); // NOOP
    block.extend(tlv(PP2_TYPE_AUTHORITY, b"db.example.com"));
    block.extend(tlv(0x20, &[1, 0, 0, 0, 0])); // SSL, ignored
    let mut buf = v2(0x21, V2_TCP4, &block);
    let length = buf.len();
    buf.extend_from_slice(b"payload");
    let expected = addresses("192.0.2.1:56324", "192.0.2.11:443");
    assert_eq!(
        parse(&buf),
        Ok(complete(Some(expected), Some("db.example.com"), length))
    );
}

#[test]
fn v2_families_and_commands() {
    let mut inet6 = [0u8; 36];
    inet6[15] = 1; // ::1
    inet6[16..18].copy_from_slice(&[0x20, 0x01]); // 2001::
    inet6[32..36].copy_from_slice(&[0, 80, 1, 187]);
    let expected = addresses("[::1]:80", "[2001::]:443");
    let udp6 = v2(0x21, V2_UDP6, &inet6);
    assert_eq!(parse(&udp6), Ok(complete(Some(expected), None, 52)));
    // LOCAL: the real endpoints count, whatever the block holds.
    assert_eq!(
        parse(&v2(0x20, V2_UNSPEC, &[])),
        Ok(complete(None, None, 16))
    );
    assert_eq!(
        parse(&v2(0x20, V2_TCP4, &[1, 2, 3])),
        Ok(complete(None, None, 19))
    );
    assert_eq!(
        parse(&v2(0x21, V2_UNSPEC, &[9; 7])),
        Ok(complete(None, None, 23))
    );
    let mut unix = vec![0; V2_UNIX_BYTES];
    unix.extend(tlv(PP2_TYPE_AUTHORITY, b"a"));
    assert_eq!(
        parse(&v2(0x21, V2_UNIX_STREAM, &unix)),
        Ok(complete(None, Some("a"), 16 + 216 + 4))
    );
}

#[test]
fn v2_refuses_unknown_fixed_bytes_as_soon_as_they_arrive() {
    let mut buf = V2_SIGNATURE.to_vec();
    for (byte, reason) in [
        (0x11, "v1 version"),
        (0x22, "command 2"),
        (0x2f, "command 15"),
    ] {
        buf.truncate(12);
        buf.push(byte);
        assert!(
            matches!(parse(&buf), Err(ProxyError::Malformed(_))),
            "{reason}"
        );
    }
    for family in [0x01, 0x10, 0x13, 0x41, 0xff] {
        buf.truncate(12);
        buf.extend_from_slice(&[0x21, family]);
        assert!(
            matches!(parse(&buf), Err(ProxyError::Malformed(_))),
            "{family:#x}"
        );
    }
}

#[test]
fn v2_length_limits() {
    let mut header = v2(0x21, V2_TCP4, &INET_BLOCK);
    header[14..16].copy_from_slice(&u16::try_from(MAX_HEADER_BYTES - 16).unwrap().to_be_bytes());
    assert_eq!(parse(&header), Ok(Parsed::Incomplete));
    header[14..16].copy_from_slice(&u16::try_from(MAX_HEADER_BYTES - 15).unwrap().to_be_bytes());
    assert_eq!(parse(&header[..16]), Err(ProxyError::TooLong));
    header[14..16].copy_from_slice(&[0xff, 0xff]);
    assert_eq!(parse(&header[..16]), Err(ProxyError::TooLong));
    assert!(matches!(
        parse(&v2(0x21, V2_TCP4, &INET_BLOCK[..11])),
        Err(ProxyError::Malformed(_))
    ));
    assert!(matches!(
        parse(&v2(0x21, V2_TCP6, &INET_BLOCK)),
        Err(ProxyError::Malformed(_))
    ));
    assert!(matches!(
        parse(&v2(0x21, V2_UNIX_DGRAM, &[0; 215])),
        Err(ProxyError::Malformed(_))
    ));
}

#[test]
fn v2_tlvs_must_fill_the_header_exactly() {
    let with = |tlvs: &[u8]| {
        let mut block = INET_BLOCK.to_vec();
        block.extend_from_slice(tlvs);
        parse(&v2(0x21, V2_TCP4, &block))
    };
    assert!(
        matches!(with(&[0x04]), Err(ProxyError::Malformed(_))),
        "header cut short"
    );
    assert!(
        matches!(with(&[0x04, 0]), Err(ProxyError::Malformed(_))),
        "header cut short"
    );
    assert!(
        matches!(with(&[0x04, 0, 2, 0]), Err(ProxyError::Malformed(_))),
        "value too long"
    );
    let twice = [tlv(PP2_TYPE_AUTHORITY, b"a"), tlv(PP2_TYPE_AUTHORITY, b"b")].concat();
    assert!(
        matches!(with(&twice), Err(ProxyError::Malformed(_))),
        "two authorities"
    );
    let expected = addresses("192.0.2.1:56324", "192.0.2.11:443");
    assert_eq!(
        with(&tlv(PP2_TYPE_AUTHORITY, b"\xff")),
        Ok(complete(Some(expected), None, 32))
    );
}

// === encoding ===

#[test]
fn encode_v1_text() {
    let mut out = Vec::new();
    encode_v1(&addresses("1.2.3.4:1", "5.6.7.8:65535"), &mut out);
    assert_eq!(out, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65535\r\n");
    out.clear();
    let tlvs = Tlvs {
        authority: Some("ignored"),
        alpn: None,
    };
    encode(
        ProxyVersion::V1,
        &addresses("1.2.3.4:1", "[2001:db8::1]:443"),
        &tlvs,
        &mut out,
    );
    assert_eq!(out, b"PROXY TCP6 ::ffff:1.2.3.4 2001:db8::1 1 443\r\n");
}

#[test]
fn encode_v2_bytes() {
    let mut out = b"kept".to_vec();
    let tlvs = Tlvs {
        authority: Some("db"),
        alpn: Some(b"h2"),
    };
    encode(
        ProxyVersion::V2,
        &addresses("192.0.2.1:56324", "192.0.2.11:443"),
        &tlvs,
        &mut out,
    );
    let mut block = INET_BLOCK.to_vec();
    block.extend(tlv(PP2_TYPE_ALPN, b"h2"));
    block.extend(tlv(PP2_TYPE_AUTHORITY, b"db"));
    assert_eq!(out, [&b"kept"[..], &v2(0x21, V2_TCP4, &block)].concat());
}

#[test]
fn encode_v2_leaves_out_a_tlv_past_the_limit() {
    let authority = "a".repeat(MAX_HEADER_BYTES);
    let tlvs = Tlvs {
        authority: Some(&authority),
        alpn: Some(b"h2"),
    };
    let mut out = Vec::new();
    let ends = addresses("[::1]:1", "[::2]:2");
    encode_v2(&ends, &tlvs, &mut out);
    assert_eq!(parse(&out), Ok(complete(Some(ends), None, out.len())));
    assert_eq!(out.len(), 16 + 36 + 5, "only the ALPN TLV");
    // Exactly at the limit still fits.
    let authority = "a".repeat(MAX_HEADER_BYTES - 16 - 36 - 3);
    out.clear();
    encode_v2(
        &ends,
        &Tlvs {
            authority: Some(&authority),
            alpn: None,
        },
        &mut out,
    );
    assert_eq!(out.len(), MAX_HEADER_BYTES);
    assert_eq!(
        parse(&out),
        Ok(complete(Some(ends), Some(&authority), MAX_HEADER_BYTES))
    );
}

// === properties ===

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::V6(SocketAddrV6::new(
            ip.into(),
            port,
            0,
            0
        ))),
        // IPv4-mapped IPv6 addresses print as dotted quads in v1.
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| {
            SocketAddr::V6(SocketAddrV6::new(
                Ipv4Addr::from(ip).to_ipv6_mapped(),
                port,
                0,
                0,
            ))
        }),
    ]
}

/// What a receiver sees: one IPv4 endpoint beside an IPv6 one is sent IPv4-mapped.
fn as_sent(a: ProxyAddresses) -> ProxyAddresses {
    let map = |s: SocketAddr| {
        let ip = match s.ip() {
            IpAddr::V4(ip) => ip.to_ipv6_mapped(),
            IpAddr::V6(ip) => ip,
        };
        SocketAddr::V6(SocketAddrV6::new(ip, s.port(), 0, 0))
    };
    match (a.source, a.destination) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => a,
        _ => ProxyAddresses {
            source: map(a.source),
            destination: map(a.destination),
        },
    }
}

prop_compose! {
    fn header()(
        source in socket_addr(),
        destination in socket_addr(),
        v2 in any::<bool>(),
        authority in proptest::option::of("[a-z0-9.-]{0,64}"),
        alpn in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
    ) -> (Vec<u8>, ProxyAddresses, Option<String>) {
        let ends = ProxyAddresses { source, destination };
        let tlvs = Tlvs { authority: authority.as_deref(), alpn: alpn.as_deref() };
        let version = if v2 { ProxyVersion::V2 } else { ProxyVersion::V1 };
        let mut out = Vec::new();
        encode(version, &ends, &tlvs, &mut out);
        (out, as_sent(ends), authority.filter(|_| v2))
    }
}

proptest! {
    #[test]
    fn round_trip_with_payload((header, ends, authority) in header(), payload in proptest::collection::vec(any::<u8>(), 0..32)) {
        let mut buf = header.clone();
        buf.extend_from_slice(&payload);
        prop_assert_eq!(parse(&buf), Ok(Parsed::Complete { addresses: Some(ends), authority, consumed: header.len() }));
    }

    #[test]
    fn every_prefix_is_incomplete((header, _, _) in header()) {
        for end in 0..header.len() {
            prop_assert_eq!(parse(&header[..end]), Ok(Parsed::Incomplete), "prefix of {}", end);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..256), v2 in any::<bool>()) {
        let mut input = if v2 { V2_SIGNATURE.to_vec() } else { V1_SIGNATURE.to_vec() };
        input.extend_from_slice(&buf);
        for input in [&buf[..], &input] {
            if let Ok(Parsed::Complete { consumed, .. }) = parse(input) {
                prop_assert!(consumed <= input.len());
            }
        }
    }

    /// A verdict never changes as more bytes arrive: an error stays an error, and a header is
    /// found at the same length; before it, only `Incomplete`. Run on damaged headers, which
    /// reach the checks deep inside.
    #[test]
    fn verdicts_are_final_on_damaged_headers((mut header, _, _) in header(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let at = at.index(header.len());
        header[at] = byte;
        let whole = parse(&header);
        for end in 0..header.len() {
            let partial = parse(&header[..end]);
            match (&whole, &partial) {
                (_, Ok(Parsed::Incomplete)) => {}
                (Ok(Parsed::Complete { consumed, .. }), Ok(Parsed::Complete { .. })) => {
                    prop_assert!(*consumed <= end);
                    prop_assert_eq!(&whole, &partial);
                }
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "prefix of {} gives {:?}, whole {:?}", end, partial, whole),
            }
        }
    }
}
