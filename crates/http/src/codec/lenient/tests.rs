use super::*;

#[test]
fn request_lines_split_at_the_first_and_last_space() {
    let split = |l: &'static [u8]| split_request_line(l).ok();
    assert_eq!(
        split(b"GET /a b HTTP/1.1"),
        Some((&b"GET"[..], &b"/a b"[..], &b"HTTP/1.1"[..]))
    );
    assert_eq!(
        split(b"GET /a HTTP/1.1  "),
        Some((&b"GET"[..], &b"/a"[..], &b"HTTP/1.1  "[..]))
    );
    assert_eq!(
        split(b"GET  HTTP/1.1"),
        Some((&b"GET"[..], &b""[..], &b"HTTP/1.1"[..]))
    );
    assert_eq!(split(b"GET /a"), Some((&b"GET"[..], &b"/a"[..], &b""[..])));
    assert_eq!(split(b"GET"), None);
}

#[test]
fn versions_are_read_as_framing_needs_them() {
    let read = |t: &[u8]| {
        let mut v = DesyncReason::Compliant;
        let version = version_of(t, &mut v);
        (version.minor, version.v09, v)
    };
    use DesyncReason::*;
    assert_eq!(read(b"HTTP/1.1"), (1, false, Compliant));
    assert_eq!(read(b"HTTP/1.0"), (0, false, Compliant));
    assert_eq!(read(b"HTTP/1.2"), (1, false, NonCompliantVersion));
    assert_eq!(read(b"HTTP/1.1 "), (1, false, NonCompliantVersion));
    assert_eq!(read(b""), (0, true, NonCompliantVersion));
    assert_eq!(read(b"HTTP/0.9"), (0, true, NonCompliantVersion));
    assert_eq!(read(b"HTTP/2.0"), (0, false, BadVersion));
    assert_eq!(read(b"HTTP/1.1x"), (0, false, BadVersion));
}

#[test]
fn lines_end_at_lf_with_one_cr_dropped() {
    let lines: Vec<&[u8]> = Lines {
        buf: b"a\r\nb\nc\rd\r\n\r\nrest",
        at: 0,
    }
    .collect();
    assert_eq!(lines, [&b"a"[..], b"b", b"c\rd", b""]);
}

#[test]
fn heads_wait_for_their_blank_line_within_the_limits() {
    let limits = HeadLimits {
        max_bytes: 64,
        max_fields: 2,
    };
    let mut fields = Vec::new();
    assert!(matches!(
        parse_lenient(b"GET /a b HTTP/1.1\r\nHost: a\r\n", limits, &mut fields),
        Ok(None)
    ));
    let long = [b"GET /a b HTTP/1.1\r\nX: ".as_slice(), &[b'x'; 80]].concat();
    assert_eq!(
        parse_lenient(&long, limits, &mut fields).err(),
        Some(HeadError::TooLarge)
    );
    let many = b"GET /a b HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(
        parse_lenient(many, limits, &mut fields).err(),
        Some(HeadError::TooManyFields)
    );
}
