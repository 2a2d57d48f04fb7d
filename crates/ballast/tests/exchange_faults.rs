//! Faults of one exchange that a review of the request path found: a client that does not
//! read Ballast's own answers, a client waiting for `100 Continue`, a close with a body
//! still arriving, HTTP/2 streams that never grant window, a target that stops reading the
//! upload or sends half an answer, and target responses whose framing must be rewritten.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::raw;
use ballast_testkit::{web_app_config, Backend, BallastProcess, RawBackend, RawMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// Only a guard against a hang.
const WAIT: Duration = Duration::from_secs(30);

/// A listener whose every request gets a fixed `204`, with an admin API.
fn fixed_config(listener: &str) -> String {
    format!(
        "[server]\nworkers = 1\n[admin]\nbind = \"127.0.0.1:0\"\n[listeners.web]\nbind = \"127.0.0.1:0\"\n\
         default_action = {{ fixed_response = {{ status = 204 }} }}\n{listener}\n"
    )
}

/// Polls a metric until `ok` holds for it.
async fn wait_metric(admin: &AdminClient, sample: &str, what: &str, ok: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = admin.metric(sample).await;
        if ok(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {sample} = {value}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_ballasts_own_answers_is_closed() {
    let lb = BallastProcess::start(bin(), &fixed_config("idle_timeout = \"1s\""));
    let admin = AdminClient::new(lb.admin_addr());
    let mut stream = TcpStream::connect(lb.addr("web")).await.unwrap();
    // Thousands of pipelined requests whose answers fill every buffer on the way back; the
    // client reads none of them.
    let pipelined = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200_000);
    let writer = tokio::spawn(async move {
        let _ = stream.write_all(&pipelined).await;
        stream
    });
    let active = "ballast_listener_connections_active{listener=\"web\"}";
    wait_metric(&admin, active, "the connection was accepted", |v| v >= 1.0).await;
    wait_metric(&admin, active, "a client that reads nothing is held", |v| {
        v == 0.0
    })
    .await;
    drop(writer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_waiting_for_100_continue_gets_a_local_answer_at_once() {
    let lb = BallastProcess::start(bin(), &fixed_config(""));
    // The default idle timeout (60 s) is longer than the wait: only an answer sent without
    // the body arrives in time.
    let reply = raw(
        lb.addr("web"),
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(reply.status(), Some(204), "{}", reply.text());
    assert!(!reply.text().contains("100 Continue"), "{}", reply.text());
    assert!(
        reply.text().contains("Connection: close"),
        "{}",
        reply.text()
    );
    assert!(reply.closed, "the connection stays open after the answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_before_the_body_ends_is_followed_by_an_orderly_close() {
    let lb = BallastProcess::start(bin(), &fixed_config(""));
    let mut stream = TcpStream::connect(lb.addr("web")).await.unwrap();
    // More body than Ballast drops to keep the connection: it answers and closes while the
    // client is still sending.
    const BODY: usize = 8 << 20;
    stream
        .write_all(
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        let chunk = vec![b'x'; 16 * 1024];
        for _ in 0..BODY / chunk.len() {
            writer.write_all(&chunk).await?;
        }
        Ok::<_, std::io::Error>(writer)
    });
    let mut reply = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tokio::time::timeout(WAIT, reader.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => reply.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("the answer was lost: {e}"),
            Err(_) => panic!("no end of the connection"),
        }
    }
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 204"), "{text}");
    // Ballast read and dropped the rest of the body after answering, so the client could
    // send all of it; closing on unread bytes would have reset the connection under it.
    let sent = tokio::time::timeout(WAIT, sending).await.unwrap().unwrap();
    assert!(sent.is_ok(), "the connection was reset: {:?}", sent.err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_that_never_grant_window_are_reset_and_release_their_target() {
    use http_body_util::Full;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let backend = Backend::spawn("a").await;
    let lb = BallastProcess::start(
        bin(),
        &format!(
            "{}\n[admin]\nbind = \"127.0.0.1:0\"\n",
            web_app_config(&[backend.addr], "workers = 1", "idle_timeout = \"1s\"", "")
        ),
    );
    let admin = AdminClient::new(lb.admin_addr());
    let addr = lb.addr("web");
    let stream = TcpStream::connect(addr).await.unwrap();
    // A client that keeps its connection busy with PINGs but never reads the body, so it
    // never sends WINDOW_UPDATE.
    let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .adaptive_window(false)
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .keep_alive_interval(Duration::from_millis(200))
        .keep_alive_while_idle(true)
        .handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("http://{addr}/download?bytes={}", 64 << 20))
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 200);
    let in_flight = format!(
        "ballast_target_in_flight_requests{{target_group=\"app\",target=\"{}\"}}",
        backend.addr
    );
    wait_metric(
        &admin,
        &in_flight,
        "the stream's target was released",
        |v| v == 0.0,
    )
    .await;
    // The body ends in a reset, not with all of it.
    let body = response.into_body();
    let read = tokio::time::timeout(WAIT, ballast_testkit::client::count_body(body))
        .await
        .expect("the body neither ended nor failed");
    assert!(
        !matches!(read, Ok(n) if n == 64 << 20),
        "the whole body came through: {read:?}"
    );
    // The connection itself still serves.
    let req = http::Request::get(format!("http://{addr}/"))
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(sender.send_request(req).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_stops_reading_the_upload_is_blamed_not_the_client() {
    let target = RawBackend::spawn(RawMode::StopsReading).await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[target.addr], "", "", "response_timeout = \"1s\""),
    );
    let mut stream = TcpStream::connect(lb.addr("web")).await.unwrap();
    const BODY: usize = 64 << 20;
    stream
        .write_all(
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..BODY / chunk.len() {
            if writer.write_all(&chunk).await.is_err() {
                break;
            }
        }
        writer
    });
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(WAIT, reader.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => reply.extend_from_slice(&buf[..n]),
            other => panic!("no answer: {other:?}"),
        }
    }
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    assert!(
        text.contains("Target.Timeout") || text.contains("504"),
        "{text}"
    );
    sending.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_got_half_an_answer_is_not_sent_to_another_target() {
    let broken = RawBackend::spawn(RawMode::PartialHead).await;
    let good = Backend::spawn("good").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[broken.addr, good.addr], "workers = 1", "", ""),
    );
    let mut ok = 0;
    let mut failed = 0;
    for _ in 0..6 {
        let reply = raw(
            lb.addr("web"),
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            WAIT,
        )
        .await;
        match reply.status() {
            Some(200) => ok += 1,
            Some(502) => failed += 1,
            other => panic!("{other:?}: {}", reply.text()),
        }
    }
    assert!(
        failed > 0,
        "every request was replayed after half an answer"
    );
    assert_eq!(
        good.hits(),
        ok,
        "a failed request reached the good target too"
    );
}

/// One request to a target that answers with `answer`; the client's view.
async fn through(answer: &'static [u8], request: &[u8]) -> String {
    let target = RawBackend::spawn(RawMode::Answer(answer)).await;
    let lb = BallastProcess::start(bin(), &web_app_config(&[target.addr], "", "", ""));
    raw(lb.addr("web"), request, WAIT).await.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_framing_is_written_afresh() {
    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let text = through(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 005\r\n\r\nhello",
        GET,
    )
    .await;
    assert_eq!(text.matches("Content-Length").count(), 1, "{text}");
    assert!(
        text.contains("Content-Length: 5\r\n") && text.ends_with("hello"),
        "{text}"
    );
    let text = through(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", GET).await;
    assert!(text.starts_with("HTTP/1.1 204"), "{text}");
    assert!(!text.contains("Content-Length"), "{text}");
    let text = through(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        GET,
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 502"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_request_without_host_reaches_the_target_with_the_listeners_address() {
    let backend = Backend::spawn("a").await;
    let lb = BallastProcess::start(bin(), &web_app_config(&[backend.addr], "", "", ""));
    let addr: SocketAddr = lb.addr("web");
    let reply = raw(addr, b"GET /old HTTP/1.0\r\n\r\n", WAIT).await;
    assert_eq!(reply.status(), Some(200), "{}", reply.text());
    let seen = &backend.recorded()[0];
    assert_eq!(seen.headers["host"], addr.to_string().as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_reused_after_an_answer_longer_than_the_target_idle_timeout() {
    let backend = Backend::builder("slow")
        .delay(Duration::from_millis(1500))
        .spawn()
        .await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &[backend.addr],
            "workers = 1",
            "",
            "target_idle_timeout = \"1s\"",
        ),
    );
    let mut client = ballast_testkit::client::H1::connect(lb.addr("web")).await;
    for _ in 0..2 {
        assert_eq!(client.get(lb.addr("web"), "/").await.status(), 200);
    }
    assert_eq!(
        backend.connections(),
        1,
        "the pooled connection was not reused"
    );
}

/// Reads one response with a `Content-Length` body from `stream`.
async fn read_response<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if bytes.len() >= end + 4 + length {
                return String::from_utf8_lossy(&bytes).into_owned();
            }
        }
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => bytes.extend_from_slice(&buf[..n]),
            other => panic!(
                "the response did not come whole ({other:?}): {}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_keep_alive_connections_wait_the_idle_timeout_and_close_at_a_drain() {
    use ballast_testkit::tls::{tls_connect, ClientOptions, TestCa};
    let ca = TestCa::new("test ca");
    let cert = ca.issue("web", &["web.test"]);
    let backend = Backend::spawn("a").await;
    let mut lb = BallastProcess::start(
        bin(),
        &format!(
            "[server]\nworkers = 1\ndrain_timeout = \"60s\"\n[listeners.web]\nbind = \"127.0.0.1:0\"\n\
             protocol = \"https\"\nrequest_header_timeout = \"1s\"\nidle_timeout = \"60s\"\n\
             default_action = {{ forward = \"app\" }}\n\
             tls = {{ certificates = [{{ cert = \"{}\", key = \"{}\" }}] }}\n\
             [target_groups.app]\ntargets = [\"{}\"]\n",
            cert.cert.display(),
            cert.key.display(),
            backend.addr
        ),
    );
    let options = ClientOptions {
        sni: Some("web.test".to_owned()),
        ..ClientOptions::default()
    };
    let mut tls = tls_connect(lb.addr("web"), &options).await.unwrap().stream;
    let request = b"GET / HTTP/1.1\r\nHost: web.test\r\n\r\n";
    tls.write_all(request).await.unwrap();
    assert!(read_response(&mut tls).await.starts_with("HTTP/1.1 200"));
    // Idle for longer than the header timeout: a keep-alive connection waits for the idle
    // timeout (this wait proves something stays open, so it has to pass time).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    tls.write_all(request).await.unwrap();
    assert!(read_response(&mut tls).await.starts_with("HTTP/1.1 200"));
    // A drain closes the idle connection at once, well before the drain timeout.
    lb.signal("TERM");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, tls.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle HTTPS connection held the drain");
    assert!(lb.wait_exit(WAIT).success());
}
