use super::*;

/// Decodes `input` fed in pieces of `step` bytes; the data and whether it ended.
fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkError> {
    let mut decoder = ChunkedDecoder::new(1024);
    let mut data = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for piece in input.chunks(step.max(1)) {
        pending.extend_from_slice(piece);
        let mut offset = 0;
        while offset < pending.len() {
            let (n, found) = decoder.decode(&pending[offset..])?;
            match found {
                Some(Piece::Data { start, end }) => {
                    data.extend_from_slice(&pending[offset + start..offset + end])
                }
                Some(Piece::End) => return Ok((data, true, decoder.trailers().to_vec())),
                None => {}
            }
            offset += n;
        }
        pending.clear();
    }
    Ok((data, false, Vec::new()))
}

#[test]
fn decodes_whatever_the_read_boundaries() {
    let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Sum: 1\r\n\r\n";
    for step in [1, 2, 3, 7, body.len()] {
        let (data, ended, trailers) = decode(body, step).unwrap();
        assert_eq!(data, b"hello, world", "step {step}");
        assert!(ended);
        assert_eq!(trailers, b"X-Sum: 1\r\n");
    }
    let (data, ended, _) = decode(b"A\r\n0123456789\r\n0\r\n\r\n", 4).unwrap();
    assert_eq!((data.len(), ended), (10, true));
    let (_, ended, _) = decode(b"5\r\nhel", 100).unwrap();
    assert!(!ended, "an unfinished body is not the end");
}

#[test]
fn malformed_framing_is_refused() {
    for bad in [
        &b"x\r\n"[..],
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloX\r\n",
        b"5\r\nhello\r\n0\r\n\n",
        b"-1\r\n",
        b"\r\n",
        b"5 5\r\n",
        b"11111111111111111\r\n",
        b"5\r\nhello\r\n0\r\nbad header\r\n\r\n",
        b"5;\x01\r\n",
    ] {
        assert!(decode(bad, 3).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    let long_ext = [b"5;".as_slice(), &[b'a'; 5000], b"\r\n"].concat();
    assert_eq!(decode(&long_ext, 100).unwrap_err(), ChunkError::TooLarge);
    let mut decoder = ChunkedDecoder::new(8);
    let trailers = b"0\r\nX-Long-Trailer: 1\r\n\r\n";
    assert_eq!(decoder.decode(trailers).unwrap_err(), ChunkError::TooLarge);
}

#[test]
fn encoding_is_canonical_and_drops_framing_trailers() {
    let mut out = Vec::new();
    write_chunk_head(&mut out, 255);
    assert_eq!(out, b"ff\r\n");
    out.clear();
    write_last_chunk(&mut out, b"X-Sum: 1\r\nContent-Length: 5\r\nHost: x\r\n");
    assert_eq!(out, b"0\r\nX-Sum: 1\r\n\r\n");
    out.clear();
    write_last_chunk(&mut out, b"");
    assert_eq!(out, b"0\r\n\r\n");
}

proptest::proptest! {
    /// Any body chunked any way decodes to the same bytes, read in any pieces.
    #[test]
    fn chunked_bodies_round_trip(
        chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..40), 0..8),
        step in 1usize..50,
    ) {
        let mut encoded = Vec::new();
        for c in &chunks {
            write_chunk_head(&mut encoded, c.len());
            encoded.extend_from_slice(c);
            encoded.extend_from_slice(b"\r\n");
        }
        write_last_chunk(&mut encoded, b"");
        let (data, ended, _) = decode(&encoded, step).unwrap();
        proptest::prop_assert!(ended);
        proptest::prop_assert_eq!(data, chunks.concat());
    }

    /// Whatever the bytes, the decoder answers without panicking.
    #[test]
    fn any_bytes_decode_or_are_refused(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300), step in 1usize..20) {
        let _ = decode(&bytes, step);
    }
}
