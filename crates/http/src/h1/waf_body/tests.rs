use super::*;

#[test]
fn chunked_data_is_decoded_up_to_the_limit() {
    let body = b"3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n";
    assert_eq!(chunked_data(body, 100), (b"abcdefg".to_vec(), true));
    assert_eq!(chunked_data(body, 5), (b"abcde".to_vec(), false));
    // Not all there yet: what came so far, not ended.
    assert_eq!(chunked_data(&body[..10], 100), (b"abc".to_vec(), false));
    // Bad framing ends it as far as the firewall is concerned.
    assert_eq!(chunked_data(b"zz\r\n", 100), (Vec::new(), true));
}

proptest::proptest! {
    /// Whatever the bytes, decoding a prefix answers without panicking and within the limit.
    #[test]
    fn any_bytes_decode_within_the_limit(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400), limit in 0usize..64) {
        let (data, _) = chunked_data(&bytes, limit);
        proptest::prop_assert!(data.len() <= limit);
    }
}
