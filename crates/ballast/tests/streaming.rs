//! Bodies stream through in both directions with memory that does not grow with them.

use std::path::Path;
use std::time::Duration;

use ballast_testkit::client::{count_body, raw, send_streaming};
use ballast_testkit::{
    web_app_config, Backend, BallastProcess, GeneratedBody, RawBackend, RawMode,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

const GIB: u64 = 1 << 30;
/// Peak resident memory allowed for the whole proxy process while a GiB passes through.
const RSS_LIMIT_KIB: u64 = 96 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_up_and_down_with_bounded_memory() {
    let backend = Backend::spawn("a").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[backend.addr], "workers = 1", "", ""),
    );
    let addr = lb.addr("web");
    let before = lb.peak_rss_kib();

    // Upload: the client streams a GiB; the backend counts what arrives.
    let upload = http::Request::post("/upload")
        .header("host", addr.to_string())
        .body(GeneratedBody::new(GIB))
        .unwrap();
    let response = send_streaming(addr, upload).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json["body_bytes"], GIB,
        "every uploaded byte reaches the target"
    );

    // Download: the backend streams a GiB; the client counts without keeping it.
    let download = http::Request::get(format!("/download?bytes={GIB}"))
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = send_streaming(addr, download).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(count_body(response.into_body()).await.unwrap(), GIB);

    let peak = lb.peak_rss_kib();
    assert!(
        peak < RSS_LIMIT_KIB,
        "peak RSS {peak} KiB (started at {before} KiB) must stay far below the body size"
    );
}

/// An HTTP/1.1 request after which Ballast closes, so the client reads to the end.
const GET_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// A body of `len` bytes that shows any byte lost, repeated or moved.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Sends `request` to a fresh Ballast in front of a target that answers `answer`; the
/// client's bytes once Ballast closes.
async fn through(answer: Vec<u8>, request: &[u8], close_after: bool) -> Vec<u8> {
    let answer: &'static [u8] = Box::leak(answer.into_boxed_slice());
    let mode = if close_after {
        RawMode::AnswerThenClose(answer)
    } else {
        RawMode::Answer(answer)
    };
    let target = RawBackend::spawn(mode).await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[target.addr], "workers = 1", "", ""),
    );
    raw(lb.addr("web"), request, Duration::from_secs(10))
        .await
        .bytes
}

/// Splits a response into its head and body.
fn split(reply: &[u8]) -> (String, &[u8]) {
    let end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole response head")
        + 4;
    (
        String::from_utf8_lossy(&reply[..end]).into_owned(),
        &reply[end..],
    )
}

/// Decodes a chunked body to its data.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line]).unwrap(), 16).unwrap();
        body = &body[line + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        assert_eq!(&body[size..size + 2], b"\r\n", "chunk data ends with CRLF");
        body = &body[size + 2..];
    }
}

/// Answers much larger than one read buffer arrive whole and unchanged, whichever way they
/// are framed: passed through as they are (`Content-Length`, or a body that ends with the
/// target's close going to an HTTP/1.0 client), or framed again (chunked for HTTP/1.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_arrive_whole_whatever_their_framing() {
    const LEN: usize = 3 * 1024 * 1024 + 17;
    let body = pattern(LEN);

    let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {LEN}\r\n\r\n").into_bytes();
    answer.extend_from_slice(&body);
    // Bytes past the length are not part of the answer and never reach the client.
    answer.extend_from_slice(b"TRAILING GARBAGE");
    let reply = through(answer, GET_CLOSE, false).await;
    let (head, got) = split(&reply);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {LEN}\r\n")),
        "{head}"
    );
    assert!(
        got == body.as_slice(),
        "Content-Length body: {} bytes of {LEN}",
        got.len()
    );

    let mut answer = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
    answer.extend_from_slice(&body);
    let reply = through(answer.clone(), b"GET / HTTP/1.0\r\n\r\n", true).await;
    let (head, got) = split(&reply);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert!(
        got == body.as_slice(),
        "until-close body to HTTP/1.0: {} bytes of {LEN}",
        got.len()
    );

    let reply = through(answer, GET_CLOSE, true).await;
    let (head, got) = split(&reply);
    assert!(head.contains("Transfer-Encoding: chunked\r\n"), "{head}");
    assert!(
        dechunk(got) == body,
        "until-close body to HTTP/1.1, chunked"
    );
}
