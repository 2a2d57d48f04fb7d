use super::*;

#[test]
fn each_mode_treats_each_class_as_alb_does() {
    use DesyncAction::*;
    use DesyncClass::*;
    let table = [
        (
            DesyncMode::Monitor,
            [Serve, Serve, ServeThenClose, ServeThenClose],
        ),
        (
            DesyncMode::Defensive,
            [Serve, Serve, ServeThenClose, Refuse],
        ),
        (DesyncMode::Strictest, [Serve, Refuse, Refuse, Refuse]),
    ];
    for (mode, actions) in table {
        for (class, want) in [Compliant, Acceptable, Ambiguous, Severe]
            .into_iter()
            .zip(actions)
        {
            assert_eq!(action(mode, class), want, "{mode:?} {class:?}");
        }
    }
}

#[test]
fn imitations_of_framing_names_are_found_and_the_real_names_are_not() {
    for name in [
        &b"Transfer_Encoding"[..],
        b"Transfer---Encoding",
        b" Transfer-Encoding",
        b"Transfer-Encoding\t",
        b"Transfer-Encoding\x88",
        b"Tran\xc5\xbffer-Encoding",
        b"Transfer-Encod\xc4\xb1ng",
        b"\x01Transfer-Encoding",
    ] {
        assert_eq!(imitated(name), Some(Imitated::TransferEncoding), "{name:?}");
    }
    for name in [
        &b"content_length"[..],
        b"Content-Length ",
        b"CONTENT.LENGTH",
    ] {
        assert_eq!(imitated(name), Some(Imitated::ContentLength), "{name:?}");
    }
    for name in [
        &b"Transfer-Encoding"[..],
        b"content-length",
        b"Transfer-Encodings",
        b"X-Transfer-Encoding",
        b"Accept-Encoding",
        b"Content-Type",
        b"Content-Lengthy",
    ] {
        assert_eq!(imitated(name), None, "{name:?}");
    }
}

#[test]
fn lengths_are_plain_decimal_numbers() {
    assert_eq!(length_value(b" 42\t"), Some(42));
    assert_eq!(length_value(b"0"), Some(0));
    for bad in [
        &b""[..],
        b"5, 5",
        b"+5",
        b"-1",
        b"0x10",
        b"1 0",
        b"99999999999999999999",
    ] {
        assert_eq!(length_value(bad), None, "{bad:?}");
    }
}

#[test]
fn codings_frame_only_when_known_and_ending_in_one_chunked() {
    let read = |values: &[&[u8]]| {
        let mut c = Codings::default();
        for v in values {
            c.add(v);
        }
        c
    };
    let c = read(&[b"gzip", b"deflate ; x", b"chunked;p"]);
    assert!(c.frames() && c.others && c.severe.is_none());
    assert!(read(&[b"chunked"]).frames());
    assert!(!read(&[b"chunked"]).others);
    assert!(!read(&[b"gzip"]).frames());
    assert!(!read(&[b"chunked, gzip"]).frames());
    assert_eq!(
        read(&[b"chunked", b"chunked"]).severe,
        Some(DesyncReason::MultipleTransferEncodingChunked)
    );
    assert_eq!(
        read(&[b"cow, chunked, chunked"]).severe,
        Some(DesyncReason::BadTransferEncoding),
        "the first finding is the one reported"
    );
}

#[test]
fn fields_and_targets_are_tiered_by_their_bytes() {
    assert_eq!(field_tier(b"X-A", b"b \t\x80\xff"), FieldTier::Compliant);
    assert_eq!(field_tier(b"X A", b"b"), FieldTier::NonCompliant);
    assert_eq!(field_tier(b"X", b"\x01"), FieldTier::NonCompliant);
    assert_eq!(field_tier(b"X", b"a\rb"), FieldTier::Bad);
    assert_eq!(field_tier(b"X\0", b"b"), FieldTier::Bad);
    let class = |t: &[u8]| {
        let mut v = DesyncReason::Compliant;
        target(t, &mut v);
        v
    };
    assert_eq!(class(b"/a/%20?b=\xd0\xb9"), DesyncReason::Compliant);
    assert_eq!(class(b"/a b"), DesyncReason::SpaceInUri);
    assert_eq!(class(b"/a\tb"), DesyncReason::AmbiguousUri);
    assert_eq!(class(b"/a\x7f"), DesyncReason::AmbiguousUri);
    assert_eq!(class(b"/a\rb c"), DesyncReason::BadUri);
    assert!(method_ok(b"M-SEARCH") && !method_ok(b"GE(T") && !method_ok(b""));
}
