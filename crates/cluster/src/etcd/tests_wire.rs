//! Pure tests of the wire format: key ranges, line splitting, parsing of what etcd sends.

use super::watch::{parse_line, Lines, Message, MAX_LINE};
use super::wire::{key_range, prefix_end};
use super::{status_error, EtcdError, Event, KeyValue};

#[test]
fn prefix_end_increments_the_last_byte_below_ff() {
    assert_eq!(prefix_end(b"a"), b"b");
    assert_eq!(prefix_end(b"ab"), b"ac");
    assert_eq!(prefix_end(b"a\xff"), b"b");
    assert_eq!(prefix_end(b"a\xfe\xff\xff"), b"a\xff");
    assert_eq!(prefix_end(b"\xff\xff"), b"\0");
    assert_eq!(prefix_end(b""), b"\0");
}

#[test]
fn the_empty_prefix_is_the_whole_key_space() {
    assert_eq!(key_range(b"", true), ("AA==".into(), Some("AA==".into())));
    assert_eq!(key_range(b"k", false), ("aw==".into(), None));
    assert_eq!(key_range(b"k", true), ("aw==".into(), Some("bA==".into())));
}

/// Every line of `chunks` pushed in order, then what `finish` leaves.
fn lines_of(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut lines = Lines::default();
    let mut out = Vec::new();
    for chunk in chunks {
        lines.push(chunk);
        while let Some(line) = lines.next_line().unwrap() {
            out.push(line);
        }
    }
    out.extend(lines.finish());
    out
}

#[test]
fn lines_are_the_same_however_the_stream_is_cut() {
    let stream: &[u8] = b"{\"a\":1}\n\n{\"b\":\"x\\ny\"}\r\n  \n{\"c\":[1,2]}\n{\"d\":0}";
    let expected: Vec<Vec<u8>> = vec![
        b"{\"a\":1}".to_vec(),
        b"{\"b\":\"x\\ny\"}\r".to_vec(),
        b"{\"c\":[1,2]}".to_vec(),
        b"{\"d\":0}".to_vec(),
    ];
    assert_eq!(lines_of(&[stream]), expected);
    for i in 0..=stream.len() {
        for j in i..=stream.len() {
            let chunks = [&stream[..i], &stream[i..j], &stream[j..]];
            assert_eq!(lines_of(&chunks), expected, "cut at {i} and {j}");
        }
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(lines_of(&bytes), expected);
}

#[test]
fn a_line_longer_than_the_bound_is_an_error() {
    let mut lines = Lines::default();
    let chunk = vec![b'x'; 1 << 20];
    let mut failed = false;
    for _ in 0..=(MAX_LINE >> 20) {
        lines.push(&chunk);
        if let Err(e) = lines.next_line() {
            assert!(matches!(e, EtcdError::Malformed(_)), "{e}");
            failed = true;
            break;
        }
    }
    assert!(failed, "an unbounded line was accepted");
}

#[test]
fn watch_lines_parse_into_messages() {
    let created = br#"{"result":{"header":{"revision":"4"},"created":true}}"#;
    assert_eq!(parse_line(created).unwrap(), Message::Created);
    let progress = br#"{"result":{"header":{"revision":"9"}}}"#;
    assert_eq!(parse_line(progress).unwrap(), Message::Progress);
    let events = br#"{"result":{"header":{"revision":"3"},"events":[
        {"kv":{"key":"YQ==","create_revision":"2","mod_revision":"3","version":"2","value":"djI=","lease":"77"}},
        {"type":"DELETE","kv":{"key":"Yg==","mod_revision":4}}]}}"#;
    let expected = vec![
        Event::Put(KeyValue {
            key: b"a".to_vec(),
            value: b"v2".to_vec(),
            create_revision: 2,
            mod_revision: 3,
            lease: 77,
        }),
        Event::Delete {
            key: b"b".to_vec(),
            mod_revision: 4,
        },
    ];
    assert_eq!(parse_line(events).unwrap(), Message::Events(expected));
}

#[test]
fn cancelled_watches_and_errors_are_errors() {
    let compacted =
        br#"{"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"3"}}"#;
    assert!(matches!(
        parse_line(compacted),
        Err(EtcdError::Compacted(3))
    ));
    let refused = br#"{"result":{"watch_id":"-1","created":true,"canceled":true,"cancel_reason":"rpc error: code = Unauthenticated desc = etcdserver: invalid auth token"}}"#;
    match parse_line(refused) {
        Err(EtcdError::Canceled(reason)) => assert!(reason.contains("invalid auth token")),
        other => panic!("{other:?}"),
    }
    let error = br#"{"error":{"grpc_code":7,"http_code":403,"message":"etcdserver: permission denied","http_status":"Forbidden"}}"#;
    match parse_line(error) {
        Err(EtcdError::Status {
            status: 403,
            code: 7,
            message,
        }) => assert_eq!(message, "etcdserver: permission denied"),
        other => panic!("{other:?}"),
    }
    let closing = br#"{"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"}}"#;
    match parse_line(closing) {
        Err(EtcdError::Broken(message)) => assert_eq!(message, "transport is closing"),
        other => panic!("{other:?}"),
    }
    // The same shutdown, seen a moment later (CI saw it after a restart).
    let cancelled = br#"{"error":{"grpc_code":1,"http_code":408,"message":"grpc: the client connection is closing","http_status":"Request Timeout"}}"#;
    assert!(matches!(parse_line(cancelled), Err(EtcdError::Broken(_))));
}

#[test]
fn malformed_lines_are_malformed_not_panics() {
    let bad: [&[u8]; 9] = [
        b"not json",
        b"{}",
        b"[]",
        b"{\"result\":{\"events\":[{\"kv\":{\"key\":\"!!\"}}]}}",
        b"{\"result\":{\"compact_revision\":\"12x\"}}",
        b"{\"result\":{\"compact_revision\":\"99999999999999999999\"}}",
        b"{\"result\":{\"events\":{}}}",
        b"{\"result\":",
        b"\xff\xfe",
    ];
    for line in bad {
        match parse_line(line) {
            Err(EtcdError::Malformed(_)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(line)),
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A fixed xorshift stream: reproducible, and no dependency for it.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"{}[]\":,\n 0123456789-eE.truefalsnul\\resultevntskyADQ=";
    for _ in 0..2000 {
        let len = (next() % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = next() as usize;
                *alphabet.get(r % alphabet.len()).unwrap_or(&b' ')
            })
            .collect();
        let mut lines = Lines::default();
        lines.push(&bytes);
        while let Ok(Some(line)) = lines.next_line() {
            let _ = parse_line(&line);
        }
        let _ = status_error(http::StatusCode::BAD_REQUEST, &bytes);
    }
}

#[test]
fn error_answers_keep_etcds_message_and_code() {
    let body = br#"{"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16}"#;
    match status_error(http::StatusCode::UNAUTHORIZED, body) {
        EtcdError::Status {
            status: 401,
            code: 16,
            message,
        } => assert_eq!(message, "etcdserver: invalid auth token"),
        other => panic!("{other:?}"),
    }
    match status_error(http::StatusCode::BAD_GATEWAY, b"<html>proxy</html>") {
        EtcdError::Status {
            status: 502,
            message,
            ..
        } => assert_eq!(message, "<html>proxy</html>"),
        other => panic!("{other:?}"),
    }
}
