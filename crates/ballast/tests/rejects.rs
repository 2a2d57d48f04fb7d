//! Requests Ballast refuses, and clients it does not let hold a connection forever.
//!
//! Every smuggling shape is answered 400 with the connection closed, and the target never
//! receives a request it could frame differently (RFC 9112 §6.1, §6.3).

use std::path::Path;
use std::time::Duration;

use ballast_testkit::client::{raw, read_until_closed};
use ballast_testkit::{web_app_config, Backend, BallastProcess};
use tokio::io::AsyncWriteExt;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// How long a rejected request's answer and close may take: only a guard against a hang.
const WAIT: Duration = Duration::from_secs(30);

/// How long a test waits for a timeout of Ballast's to close a connection: only a guard
/// against a hang, far beyond the timeouts under test and far below the ones set to an hour.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn start(backend: &Backend, listener_extra: &str) -> BallastProcess {
    BallastProcess::start(
        bin(),
        &web_app_config(&[backend.addr], "", listener_extra, ""),
    )
}

async fn assert_rejected(lb: &BallastProcess, request: &[u8], status: u16) {
    let reply = raw(lb.addr("web"), request, WAIT).await;
    assert_eq!(reply.status(), Some(status), "{}", reply.text());
    assert!(
        reply.closed,
        "connection must be closed after {status}: {}",
        reply.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framings_are_rejected_and_never_forwarded() {
    let backend = Backend::spawn("a").await;
    let lb = start(&backend, "");
    let shapes: [&[u8]; 3] = [
        // Conflicting Content-Length values.
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        // Conflicting values in one field.
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
        // chunked twice.
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ];
    for shape in shapes {
        assert_rejected(&lb, shape, 400).await;
    }
    // An unknown coding, and chunked not last.
    assert_rejected(
        &lb,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
    )
    .await;
    assert_rejected(
        &lb,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
    )
    .await;
    assert_eq!(backend.hits(), 0, "no smuggling shape may reach the target");
    assert_eq!(backend.recorded().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn length_and_chunked_together_are_served_chunked_then_both_connections_close() {
    // Ambiguous in the default (defensive) mode, as on ALB: served, framed by
    // Transfer-Encoding (RFC 9112 §6.3), and nothing after it is read on either side.
    let backend = Backend::spawn("a").await;
    let lb = start(&backend, "");
    let reply = raw(
        lb.addr("web"),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(reply.status(), Some(200), "{}", reply.text());
    assert!(reply.closed, "the client connection closes after it");
    assert_eq!(
        reply.text().matches("HTTP/1.1 ").count(),
        1,
        "{}",
        reply.text()
    );
    let seen = backend.recorded();
    assert_eq!(seen.len(), 1, "the bytes after it never become a request");
    assert_eq!(seen[0].headers["transfer-encoding"], "chunked");
    assert!(seen[0].headers.get("content-length").is_none());
    assert_eq!(seen[0].headers["connection"], "close");
    assert_eq!(seen[0].body_bytes, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_chunked_body_is_rejected_and_the_target_never_gets_a_whole_request() {
    let backend = Backend::spawn("a").await;
    let lb = start(&backend, "");
    assert_rejected(
        &lb,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n",
        400,
    )
    .await;
    assert_eq!(
        backend.hits(),
        0,
        "the target must not answer a request with a broken body"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400() {
    let backend = Backend::spawn("a").await;
    let lb = start(&backend, "");
    assert_rejected(&lb, b"THIS IS NOT HTTP\r\n\r\n", 400).await;
    assert_rejected(&lb, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400).await;
    assert_rejected(&lb, b"GET / HTTP/1.1\r\n\r\n", 400).await; // HTTP/1.1 needs Host
    assert_eq!(backend.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_or_too_many_headers_get_431() {
    let backend = Backend::spawn("a").await;
    let lb = start(&backend, "max_header_bytes = 16384\nmax_headers = 20");
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert_rejected(&lb, big.as_bytes(), 431).await;
    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..30 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_rejected(&lb, many.as_bytes(), 431).await;
    // Just under both limits passes.
    let mut fine = String::from("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..15 {
        fine.push_str(&format!("X-H{i}: v\r\n"));
    }
    fine.push_str("\r\n");
    let reply = raw(lb.addr("web"), fine.as_bytes(), WAIT).await;
    assert_eq!(reply.status(), Some(200), "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_are_cut_off() {
    let backend = Backend::spawn("a").await;
    // The idle timeout is an hour: a connection closed within the test's (hang-guarding)
    // wait was closed by the header timeout, however slow the machine.
    let lb = start(
        &backend,
        "request_header_timeout = \"300ms\"\nidle_timeout = \"1h\"",
    );
    // A slowloris client: connects, sends part of a head, then nothing.
    let mut stream = tokio::net::TcpStream::connect(lb.addr("web"))
        .await
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let reply = read_until_closed(&mut stream, HANG_GUARD).await;
    assert!(reply.closed, "a slow head must get the connection closed");
    // A client that connects and sends nothing at all.
    let mut silent = tokio::net::TcpStream::connect(lb.addr("web"))
        .await
        .unwrap();
    assert!(read_until_closed(&mut silent, HANG_GUARD).await.closed);
    assert_eq!(backend.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let backend = Backend::spawn("a").await;
    // The header timeout is an hour: only the idle timeout can close this connection
    // within the test's (hang-guarding) wait, however slow the machine.
    let lb = start(
        &backend,
        "idle_timeout = \"400ms\"\nrequest_header_timeout = \"1h\"",
    );
    let mut stream = tokio::net::TcpStream::connect(lb.addr("web"))
        .await
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let reply = read_until_closed(&mut stream, HANG_GUARD).await;
    assert!(reply.text().starts_with("HTTP/1.1 200"), "{}", reply.text());
    assert!(
        reply.closed,
        "the idle connection must be closed after the idle timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coding_before_chunked_is_passed_on_with_its_bytes() {
    // RFC 9112 §6.1 allows codings before the final chunked: the body is framed as chunked,
    // and the target must still be told of the gzip under it.
    let backend = Backend::spawn("a").await;
    let lb = start(&backend, "");
    let reply = raw(
        lb.addr("web"),
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n5;ext=1\r\n\x1f\x8b\x08\x00\x00\r\n3\r\nabc\r\n0\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(reply.status(), Some(200), "{}", reply.text());
    let seen = backend.recorded();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["transfer-encoding"], "gzip, chunked");
    assert_eq!(
        seen[0].body_bytes, 8,
        "every byte under the chunking passes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coding_before_chunked_is_refused_for_an_http2_target() {
    // HTTP/2 has no transfer codings: the target would take the gzip bytes for the body.
    let backend = Backend::spawn("a").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[backend.addr], "", "", "protocol_version = \"http2\""),
    );
    assert_rejected(
        &lb,
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        400,
    )
    .await;
    assert_eq!(backend.hits(), 0);
}
