//! Per-listener connection limits and the HTTP/2 abuse defences, each with the metric that
//! counts it: max_connections, max_requests_per_connection (HTTP/1.1 and HTTP/2),
//! request_timeout, http2_max_concurrent_streams, rapid reset, CONTINUATION floods. The
//! abuse tests run a normal client on another connection at the same time, which must be
//! served in full.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::{read_until_closed, H2};
use ballast_testkit::h2frame::{
    frame, frames, request_block, Frame, CANCEL, CONTINUATION, END_HEADERS, END_STREAM,
    ENHANCE_YOUR_CALM, GOAWAY, HEADERS, PREFACE, REFUSED_STREAM, RST_STREAM, SETTINGS,
};
use ballast_testkit::{wait_until, web_app_config, Backend, BallastProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn start(target: SocketAddr, listener: &str) -> (BallastProcess, AdminClient) {
    let lb = BallastProcess::start(
        bin(),
        &format!(
            "[admin]\nbind = \"127.0.0.1:0\"\n{}",
            web_app_config(&[target], "workers = 1", listener, "")
        ),
    );
    let admin = AdminClient::new(lb.admin_addr());
    (lb, admin)
}

async fn hits(admin: &AdminClient, limit: &str) -> f64 {
    admin
        .metric(&format!(
            "ballast_listener_limit_hits_total{{listener=\"web\",limit=\"{limit}\"}}"
        ))
        .await
}

/// Sends one keep-alive GET on `stream` and reads its whole answer (Content-Length framed).
async fn get_on(stream: &mut TcpStream, path: &str) -> String {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        loop {
            let text = String::from_utf8_lossy(&seen).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length: ")
                            .or(l.strip_prefix("Content-Length: "))
                    })
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if seen.len() >= end + 4 + length {
                    return text;
                }
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {text}");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("an answer in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_max_connections_are_closed_at_once() {
    let target = Backend::spawn("app").await;
    let (lb, admin) = start(target.addr, "max_connections = 2");
    let addr = lb.addr("web");
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert!(get_on(&mut first, "/").await.starts_with("HTTP/1.1 200"));
    assert!(get_on(&mut second, "/").await.starts_with("HTTP/1.1 200"));
    // A third is closed before a byte is read: no answer, just the end of the stream.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let _ = third.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let reply = read_until_closed(&mut third, WAIT).await;
    assert_eq!(reply.text(), "", "no answer on a connection over the limit");
    assert_eq!(hits(&admin, "max_connections").await, 1.0);
    // One closes: a new connection is served again (once Ballast has seen the close).
    drop(first);
    let mut served = false;
    for _ in 0..200 {
        let mut again = TcpStream::connect(addr).await.unwrap();
        if again
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .is_ok()
            && read_until_closed(&mut again, WAIT)
                .await
                .text()
                .starts_with("HTTP/1.1 200")
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "a connection was served once one closed");
    assert!(get_on(&mut second, "/").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_carries_at_most_max_requests_per_connection() {
    let target = Backend::spawn("app").await;
    let (lb, admin) = start(target.addr, "max_requests_per_connection = 3");
    let addr = lb.addr("web");
    let mut client = TcpStream::connect(addr).await.unwrap();
    for _ in 0..2 {
        let answer = get_on(&mut client, "/").await;
        assert!(!answer.contains("Connection: close"), "{answer}");
    }
    let third = get_on(&mut client, "/").await;
    assert!(third.contains("Connection: close\r\n"), "{third}");
    let rest = read_until_closed(&mut client, WAIT).await;
    assert_eq!(rest.text(), "", "closed after the third");
    assert_eq!(hits(&admin, "max_requests_per_connection").await, 1.0);

    // HTTP/2: the third stream is served, then GOAWAY; the client goes on elsewhere.
    let mut h2 = H2::connect(addr).await;
    for _ in 0..3 {
        assert_eq!(h2.get(addr, "/").await.status(), 200);
    }
    wait_until_async(|| async { hits(&admin, "max_requests_per_connection").await == 2.0 }).await;
    let mut fresh = H2::connect(addr).await;
    assert_eq!(fresh.get(addr, "/").await.status(), 200);
}

async fn wait_until_async<F, Fut>(mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_slower_than_request_timeout_gets_408() {
    let target = Backend::spawn("app").await;
    let (lb, admin) = start(target.addr, "request_timeout = \"1s\"");
    let mut client = TcpStream::connect(lb.addr("web")).await.unwrap();
    client
        .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    // A byte now and then: never idle long enough for the body idle timeout, but the whole
    // request never arrives. Bounded: 300 bytes at most.
    let (mut rd, mut wr) = client.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..300 {
            if wr.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, rd.read_to_end(&mut answer)).await;
    trickle.abort();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
    assert_eq!(hits(&admin, "request_timeout").await, 1.0);
    let event = lb.wait_for_log("request rejected", WAIT);
    assert_eq!(event["reason"], "Client.RequestTimeout");
}

/// A raw h2c connection that has exchanged SETTINGS.
async fn raw_h2(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    stream.write_all(&out).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while !frames(&seen).iter().any(|f| f.kind == SETTINGS) {
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    (stream, seen)
}

/// Reads frames until `done` holds for the frames seen (or the connection ends).
async fn read_frames(
    stream: &mut TcpStream,
    mut seen: Vec<u8>,
    done: impl Fn(&[Frame]) -> bool,
) -> Vec<Frame> {
    let mut buf = [0u8; 16 * 1024];
    let _ = tokio::time::timeout(WAIT, async {
        while !done(&frames(&seen)) {
            match stream.read(&mut buf).await {
                Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => return,
            }
        }
    })
    .await;
    frames(&seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_http2_max_concurrent_streams_are_refused() {
    let target = Backend::spawn("app").await;
    let (lb, admin) = start(target.addr, "http2_max_concurrent_streams = 2");
    let addr = lb.addr("web");
    let (mut stream, seen) = raw_h2(addr).await;
    // SETTINGS_MAX_CONCURRENT_STREAMS (0x3) = 2 is announced.
    let settings = frames(&seen)
        .into_iter()
        .find(|f| f.kind == SETTINGS)
        .unwrap();
    assert!(
        settings.payload.chunks(6).any(|s| s == [0, 3, 0, 0, 0, 2]),
        "{settings:?}"
    );
    // Three POSTs whose bodies never come: two stay open, the third is refused.
    let mut out = frame(SETTINGS, 0x1, 0, &[]);
    for id in [1u32, 3, 5] {
        out.extend(frame(
            HEADERS,
            END_HEADERS,
            id,
            &request_block("POST", "x", "/slow"),
        ));
    }
    stream.write_all(&out).await.unwrap();
    let seen = read_frames(&mut stream, Vec::new(), |fs| {
        fs.iter().any(|f| f.kind == RST_STREAM && f.stream == 5)
    })
    .await;
    let reset = seen
        .iter()
        .find(|f| f.kind == RST_STREAM && f.stream == 5)
        .expect("stream 5 refused");
    assert_eq!(reset.error_code(), Some(REFUSED_STREAM));
    wait_until_async(|| async { hits(&admin, "http2_max_concurrent_streams").await == 1.0 }).await;
}

/// A normal HTTP/2 client on its own connection: `n` GETs, every one answered 200.
async fn normal_client(addr: SocketAddr, n: usize) -> usize {
    let mut client = H2::connect(addr).await;
    let mut ok = 0;
    for _ in 0..n {
        if client.get(addr, "/").await.status() == 200 {
            ok += 1;
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_ends_the_connection_and_spares_the_others() {
    let target = Backend::spawn("app").await;
    let (lb, admin) = start(target.addr, "");
    let addr = lb.addr("web");
    let normal = tokio::spawn(normal_client(addr, 200));
    let (mut stream, _) = raw_h2(addr).await;
    // Open and cancel, as fast as the socket takes it: 1,000 streams at most.
    let mut burst = Vec::new();
    for i in 0..1000u32 {
        let id = 1 + 2 * i;
        burst.extend(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            id,
            &request_block("GET", "x", "/"),
        ));
        burst.extend(frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
    }
    let _ = stream.write_all(&burst).await;
    let seen = read_frames(&mut stream, Vec::new(), |fs| {
        fs.iter().any(|f| f.kind == GOAWAY)
    })
    .await;
    let goaway = seen
        .iter()
        .find(|f| f.kind == GOAWAY)
        .expect("GOAWAY after the burst");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM));
    let rest = read_until_closed(&mut stream, WAIT).await;
    drop(rest);
    assert_eq!(hits(&admin, "http2_rapid_reset").await, 1.0);
    let served = tokio::time::timeout(WAIT * 3, normal)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        served, 200,
        "the normal client was served in full meanwhile"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_block_that_never_ends_ends_the_connection() {
    let target = Backend::spawn("app").await;
    let (lb, admin) = start(target.addr, "max_header_bytes = 8192");
    let addr = lb.addr("web");
    let normal = tokio::spawn(normal_client(addr, 100));
    let (mut stream, _) = raw_h2(addr).await;
    let mut flood = frame(HEADERS, 0, 1, &request_block("GET", "x", "/"));
    // Empty CONTINUATION frames, never END_HEADERS: 100,000 at most.
    let empties: Vec<u8> = (0..10_000)
        .flat_map(|_| frame(CONTINUATION, 0, 1, &[]))
        .collect();
    flood.extend_from_slice(&empties);
    let _ = stream.write_all(&flood).await;
    for _ in 0..9 {
        if stream.write_all(&empties).await.is_err() {
            break;
        }
    }
    let seen = read_frames(&mut stream, Vec::new(), |fs| {
        fs.iter().any(|f| f.kind == GOAWAY)
    })
    .await;
    let goaway = seen
        .iter()
        .find(|f| f.kind == GOAWAY)
        .expect("GOAWAY for the endless block");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM));
    assert_eq!(hits(&admin, "http2_header_block").await, 1.0);
    let served = tokio::time::timeout(WAIT * 3, normal)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(served, 100);
    wait_until("nothing reached the target from the flood", WAIT, || {
        target.recorded().len() == 100
    })
    .await;
}
