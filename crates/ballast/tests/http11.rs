//! HTTP/1.1 details users hit, each through the binary with raw bytes on the client side:
//! `Expect: 100-continue` forwarded (and a target's 417 passed back), pipelined requests
//! answered in order, responses to HEAD and 304 without bodies, request targets over the
//! limit (414), `OPTIONS *`. (CONNECT's 405 and absolute-form targets: `protocol.rs`.)

use std::path::Path;
use std::time::Duration;

use ballast_testkit::client::read_until_closed;
use ballast_testkit::{web_app_config, Backend, BallastProcess, RawBackend, RawMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn start(target: std::net::SocketAddr, listener: &str) -> BallastProcess {
    BallastProcess::start(
        bin(),
        &web_app_config(&[target], "workers = 1", listener, ""),
    )
}

/// Reads until `bytes` have arrived in all and returns them as text.
async fn read_until(stream: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    tokio::time::timeout(WAIT, async {
        while !done(&String::from_utf8_lossy(&seen)) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; got {}", String::from_utf8_lossy(&seen)));
    String::from_utf8(seen).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_reaches_the_target_which_decides() {
    let target = Backend::spawn("app").await;
    // The 100 must come back when the target sends it. It once waited for whatever timer
    // woke the exchange next (the connection's header timer, 10 s by default): with that
    // timer far away, such a wait would outlast this test's.
    let lb = start(target.addr, "request_header_timeout = \"120s\"");
    let mut client = TcpStream::connect(lb.addr("web")).await.unwrap();
    client
        .write_all(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    // The target's own 100 comes back before the client sends a byte of body.
    let interim = read_until(&mut client, |t| t.contains("\r\n\r\n")).await;
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n"),
        "{interim}"
    );
    client.write_all(b"hello").await.unwrap();
    let answer = read_until(&mut client, |t| t.contains("\"body_bytes\":5")).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let seen = &target.recorded()[0];
    assert_eq!(seen.headers["expect"], "100-continue");
    assert_eq!(seen.body_bytes, 5);

    // A target that refuses the expectation: its 417 reaches the client, which never had to
    // send the body.
    let refusing = RawBackend::spawn(RawMode::Answer(
        b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n",
    ))
    .await;
    let lb = start(refusing.addr, "");
    let mut client = TcpStream::connect(lb.addr("web")).await.unwrap();
    client
        .write_all(
            b"PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let answer = read_until(&mut client, |t| t.contains("\r\n\r\n")).await;
    assert!(answer.starts_with("HTTP/1.1 417 "), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let target = Backend::spawn("app").await;
    let lb = start(target.addr, "");
    let mut client = TcpStream::connect(lb.addr("web")).await.unwrap();
    client
        .write_all(
            b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n\
              HEAD /two HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let text = read_until_closed(&mut client, WAIT).await.text();
    let one = text.find("\"path\":\"/one\"").expect("/one answered");
    let three = text.find("\"path\":\"/three\"").expect("/three answered");
    assert!(one < three, "{text}");
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{text}");
    // The HEAD's answer has the length of the body it would have, and no body: the third
    // response follows its head at once.
    assert!(!text.contains("\"path\":\"/two\""), "{text}");
    let paths: Vec<String> = target.recorded().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/one", "/two", "/three"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_304_has_no_body_whatever_its_content_length_says() {
    let target = RawBackend::spawn(RawMode::Answer(
        b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 5\r\n\r\n",
    ))
    .await;
    let lb = start(target.addr, "");
    let mut client = TcpStream::connect(lb.addr("web")).await.unwrap();
    client
        .write_all(
            b"GET /page HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"v1\"\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let text = read_until_closed(&mut client, WAIT).await.text();
    assert!(text.starts_with("HTTP/1.1 304 "), "{text}");
    assert!(text.contains("ETag: \"v1\"\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "no body after a 304: {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_target_over_the_limit_gets_414_and_options_star_passes() {
    let target = Backend::spawn("app").await;
    let lb = start(target.addr, "max_header_bytes = 8192");
    let addr = lb.addr("web");
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(long.as_bytes()).await.unwrap();
    let text = read_until_closed(&mut client, WAIT).await.text();
    assert!(text.starts_with("HTTP/1.1 414 "), "{text}");
    assert_eq!(target.hits(), 0);

    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let text = read_until_closed(&mut client, WAIT).await.text();
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    let seen = &target.recorded()[0];
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("OPTIONS", "*"));
}
