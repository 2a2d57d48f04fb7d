//! Protocol correctness at the edge (issue 11): ALPN obeyed, hosts and request targets
//! checked, framing look-alikes never forwarded, CONNECT refused, Ballast's own errors
//! reaching HTTP/2 clients as responses, and header rewrites, end to end through the binary.

use std::path::Path;
use std::time::Duration;

use ballast_testkit::client::{raw, read_until_closed, H2};
use ballast_testkit::h2frame::{
    frame, frames, GOAWAY, HEADERS, PREFACE, RST_STREAM, SETTINGS, WINDOW_UPDATE,
};
use ballast_testkit::tls::{tls_connect, ClientOptions, TestCa};
use ballast_testkit::{closed_port, web_app_config, Backend, BallastProcess};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// Only a guard against a hang.
const WAIT: Duration = Duration::from_secs(30);

fn start(backend: &Backend, listener: &str) -> BallastProcess {
    BallastProcess::start(bin(), &web_app_config(&[backend.addr], "", listener, ""))
}

async fn refused_with(lb: &BallastProcess, request: &[u8], status: u16) -> String {
    let reply = raw(lb.addr("web"), request, WAIT).await;
    assert_eq!(reply.status(), Some(status), "{}", reply.text());
    assert!(reply.closed, "closed after {status}: {}", reply.text());
    reply.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_and_request_targets_are_checked() {
    let backend = Backend::spawn("a").await;
    let lb = start(&backend, "");
    for request in [
        &b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        b"GET http://a b/ HTTP/1.1\r\nHost: x\r\n\r\n",
        // Authority-form outside CONNECT would have replaced the client's Host.
        b"GET evil.com HTTP/1.1\r\nHost: good.example\r\n\r\n",
        b"GET evil.com:443 HTTP/1.1\r\nHost: good.example\r\n\r\n",
        // User info and schemes other than http and https.
        b"GET http://user:pw@host/ HTTP/1.1\r\nHost: host\r\n\r\n",
        b"GET ftp://host/file HTTP/1.1\r\nHost: host\r\n\r\n",
        // A length beyond any body: 400, not 431.
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n",
    ] {
        refused_with(&lb, request, 400).await;
    }
    let answer = refused_with(
        &lb,
        b"CONNECT evil.com:443 HTTP/1.1\r\nHost: evil.com:443\r\n\r\n",
        405,
    )
    .await;
    assert!(answer.contains("Allow: GET"), "{answer}");
    assert_eq!(backend.hits(), 0, "nothing refused reached the target");
    // Absolute-form with a valid authority is served, with that authority as Host.
    let reply = raw(
        lb.addr("web"),
        b"GET http://example.com:8080/x HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(reply.status(), Some(200), "{}", reply.text());
    let seen = backend.recorded().pop().unwrap();
    assert_eq!(seen.headers["host"], "example.com:8080");
    assert_eq!(seen.path, "/x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_lookalikes_never_reach_the_target() {
    let backend = Backend::spawn("a").await;
    let lb = start(&backend, "");
    let reply = raw(
        lb.addr("web"),
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\nContent_Length: 5\r\nX_Forwarded_For: 6.6.6.6\r\nx_custom: kept\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(reply.status(), Some(200), "{}", reply.text());
    let seen = backend.recorded().pop().unwrap();
    for name in ["transfer_encoding", "content_length", "x_forwarded_for"] {
        assert!(seen.headers.get(name).is_none(), "{name} was forwarded");
    }
    assert_eq!(seen.headers["x_custom"], "kept", "other names with _ pass");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_get_ballasts_errors_as_responses() {
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[closed_port()], "", "", "retry = { idempotent = false }"),
    );
    let addr = lb.addr("web");
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut answers = Vec::new();
    for i in 0..50 {
        let req = Request::post(format!("http://{addr}/order/{i}"))
            .body(Full::new(Bytes::from_static(b"{\"item\":1}")))
            .unwrap();
        sender.ready().await.unwrap();
        let response = sender
            .send_request(req)
            .await
            .expect("a response, not a reset stream");
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        answers.push((status, body));
    }
    for (status, body) in &answers {
        assert_eq!(*status, 502);
        assert_eq!(&body[..], b"502 Bad Gateway\n");
    }
    // The user info in an HTTP/2 authority is refused like in HTTP/1.
    let req = Request::get(format!("http://user@{addr}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 400);
    let mut h2 = H2::connect(addr).await;
    assert_eq!(
        h2.get(addr, "/").await.status(),
        502,
        "the connection serves on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_decides_the_protocol_on_https_listeners() {
    let backend = Backend::spawn("a").await;
    let ca = TestCa::new("ballast-test-ca");
    let leaf = ca.issue("leaf", &["localhost"]);
    let tls = format!(
        "protocol = \"https\"\ntls = {{ certificates = [{{ cert = \"{}\", key = \"{}\" }}] }}",
        leaf.cert.display(),
        leaf.key.display()
    );
    let lb = start(&backend, &tls);
    let addr = lb.addr("web");
    let options = |alpn: &[&[u8]]| ClientOptions {
        sni: Some("localhost".into()),
        alpn: alpn.iter().map(|p| p.to_vec()).collect(),
        ..ClientOptions::default()
    };
    // h2 agreed: an HTTP/1.1 request is a connection error, never served as HTTP/1.1.
    let mut h2 = tls_connect(addr, &options(&[b"h2"])).await.unwrap();
    assert_eq!(h2.alpn.as_deref(), Some(&b"h2"[..]));
    h2.stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let reply = read_until_closed(&mut h2.stream, WAIT).await;
    assert!(
        reply.closed,
        "an h2 connection with a bad preface was left open"
    );
    let answer = reply.bytes;
    assert!(
        !answer.starts_with(b"HTTP/1"),
        "an HTTP/1.1 answer on an h2 connection: {}",
        String::from_utf8_lossy(&answer)
    );
    // What came back, if anything, is HTTP/2 frames: the server's SETTINGS and at most a
    // GOAWAY that says PROTOCOL_ERROR (RFC 9113 §3.4), nothing that answers a request.
    for f in frames(&answer) {
        match f.kind {
            SETTINGS | WINDOW_UPDATE => {}
            GOAWAY => assert_eq!(f.error_code(), Some(0x1), "GOAWAY code"),
            other => panic!("frame type {other:#x} on an h2 connection with a bad preface"),
        }
    }
    // http/1.1 agreed: the HTTP/2 preface is not taken as HTTP/2.
    let mut h1 = tls_connect(addr, &options(&[b"http/1.1"])).await.unwrap();
    assert_eq!(h1.alpn.as_deref(), Some(&b"http/1.1"[..]));
    h1.stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let reply = read_until_closed(&mut h1.stream, WAIT).await;
    assert!(
        reply.closed,
        "an http/1.1 connection sent the h2 preface was left open"
    );
    let answer = reply.bytes;
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
        "HTTP/2 spoken on an http/1.1 connection: {:?}",
        &answer[..answer.len().min(40)]
    );
    assert_eq!(backend.hits(), 0);
    // No ALPN: HTTP/1.1.
    let mut plain = tls_connect(addr, &options(&[])).await.unwrap();
    plain
        .stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut plain.stream).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

async fn read_all<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut out)).await;
    out
}

/// How Ballast answered one HTTP/2 request sent as raw frames.
#[derive(Debug, PartialEq)]
enum H2Answer {
    Status(u16),
    Reset(u32),
}

/// Sends GET / on stream 1 of a fresh h2c connection with the given header block fields
/// after `:method`, `:scheme` and `:path` (each a literal without indexing, no Huffman
/// coding, so values a client library would refuse can be sent), and returns the answer.
async fn raw_h2_get(addr: std::net::SocketAddr, fields: &[(&str, &str)]) -> H2Answer {
    let mut block = vec![0x82, 0x86, 0x84];
    for (name, value) in fields {
        assert!(name.len() < 127 && value.len() < 127);
        match *name {
            ":authority" => block.push(0x01), // name from the static table, index 1
            _ => {
                block.push(0x00);
                block.push(name.len() as u8);
                block.extend_from_slice(name.as_bytes());
            }
        }
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    // END_STREAM and END_HEADERS.
    out.extend(frame(HEADERS, 0x5, 1, &block));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&out).await.unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    let answer = tokio::time::timeout(WAIT, async {
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed without answering stream 1: {seen:?}");
            seen.extend_from_slice(&chunk[..n]);
            for f in frames(&seen) {
                match (f.kind, f.stream) {
                    // :status from the static table: 200 is index 8, 400 index 12.
                    (HEADERS, 1) => {
                        return H2Answer::Status(match f.payload.first() {
                            Some(0x88) => 200,
                            Some(0x8c) => 400,
                            other => panic!("unexpected :status encoding {other:?}"),
                        })
                    }
                    (RST_STREAM, 1) => return H2Answer::Reset(f.error_code().unwrap()),
                    (GOAWAY, _) => panic!("GOAWAY instead of an answer to stream 1: {f:?}"),
                    _ => {}
                }
            }
        }
    })
    .await;
    answer.expect("no answer to stream 1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_authorities_and_hosts_are_checked_like_http1s() {
    let backend = Backend::spawn("a").await;
    let lb = start(&backend, "");
    let addr = lb.addr("web");
    assert_eq!(
        raw_h2_get(addr, &[(":authority", "example.com")]).await,
        H2Answer::Status(200),
        "a valid request is served"
    );
    assert_eq!(backend.hits(), 1);
    // A malformed :authority is a malformed request: a stream error (RFC 9113 §8.1.1) or a
    // 400, never forwarded. The same for a Host field next to a valid :authority.
    for fields in [
        &[(":authority", "a b")][..],
        &[(":authority", "a/b")][..],
        &[(":authority", "user@example.com")][..],
        &[(":authority", "example.com"), ("host", "a b")][..],
        &[("host", "a b")][..],
    ] {
        let answer = raw_h2_get(addr, fields).await;
        assert!(
            matches!(answer, H2Answer::Status(400) | H2Answer::Reset(1)),
            "{fields:?}: {answer:?}"
        );
    }
    assert_eq!(backend.hits(), 1, "nothing refused reached the target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_rewrites_apply_to_requests_and_responses() {
    let backend = Backend::spawn("a").await;
    let listener = r#"request_headers = { set = { "X-Env" = "prod" }, remove = ["X-Debug"] }
response_headers = { set = { "Strict-Transport-Security" = "max-age=31536000" }, remove = ["X-Backend"] }

[[listeners.web.rules]]
priority = 10
conditions = { path = ["/api/*"] }
action = { forward = "app" }
request_headers = { add = { "X-Rule" = "api" } }
response_headers = { add = { "Access-Control-Allow-Origin" = "*" } }

[[listeners.web.rules]]
priority = 20
conditions = { path = ["/health"] }
action = { fixed_response = { status = 200, body = "ok" } }
response_headers = { set = { "Cache-Control" = "no-store" } }
"#;
    let lb = start(&backend, listener);
    let addr = lb.addr("web");
    let reply = raw(
        addr,
        b"GET /api/x HTTP/1.1\r\nHost: x\r\nX-Debug: 1\r\nX-Env: dev\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    let text = reply.text();
    assert_eq!(reply.status(), Some(200), "{text}");
    assert!(
        text.contains("Strict-Transport-Security: max-age=31536000\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Access-Control-Allow-Origin: *\r\n"),
        "{text}"
    );
    let seen = backend.recorded().pop().unwrap();
    assert_eq!(seen.headers["x-env"], "prod");
    assert!(seen.headers.get("x-debug").is_none());
    assert_eq!(seen.headers["x-rule"], "api");
    // The default action gets the listener's rewrites alone; fixed responses get theirs.
    let reply = raw(
        addr,
        b"GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    let text = reply.text();
    assert!(
        text.contains("Strict-Transport-Security") && !text.contains("Access-Control"),
        "{text}"
    );
    let reply = raw(
        addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    let text = reply.text();
    assert!(
        text.contains("Cache-Control: no-store\r\n") && text.contains("Strict-Transport-Security"),
        "{text}"
    );
    // HTTP/2 clients get the same.
    let mut h2 = H2::connect(addr).await;
    let response = h2.get(addr, "/api/y").await;
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

#[test]
fn rewrites_of_framing_fields_are_refused_with_their_key() {
    let config = "[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = { forward = \"app\" }\nrequest_headers = { set = { \"Host\" = \"x\", \"X-Forwarded-For\" = \"1.2.3.4\" } }\nresponse_headers = { set = { \"Content-Length\" = \"1\" } }\n[target_groups.app]\ntargets = [\"127.0.0.1:9\"]\n";
    let errors = ballast_config::parse(config).unwrap_err().to_string();
    for key in [
        "listeners.web.request_headers.set.Host",
        "listeners.web.request_headers.set.X-Forwarded-For",
        "listeners.web.response_headers.set.Content-Length",
    ] {
        assert!(errors.contains(key), "{key} missing from:\n{errors}");
    }
}
