//! The admin listener defends itself as a data listener does: a client trickling a request
//! head is cut at `admin.request_header_timeout`, connections over `admin.max_connections`
//! are closed while the open ones are served, the token is checked before anything else,
//! and every error, axum's own included, comes in the JSON error envelope.

use std::time::{Duration, Instant};

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::{raw, read_until_closed, RawReply};
use ballast_testkit::{Backend, BallastProcess};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{bin, config};

/// Generous: these tests wait on conditions, and this only bounds a failure.
const WAIT: Duration = Duration::from_secs(30);

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// The test config with extra `[admin]` keys.
fn with_admin(web: std::net::SocketAddr, keys: &str) -> String {
    config(web, web).replacen(
        "bind = \"127.0.0.1:0\"\n",
        &format!("bind = \"127.0.0.1:0\"\n{keys}\n"),
        1,
    )
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

/// Sends `bytes` on a new connection and reads until it closes. Unlike `client::raw`, a
/// write the server refused by closing first is not an error: the reply says it closed.
async fn send(addr: std::net::SocketAddr, bytes: &[u8]) -> RawReply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _refused = stream.write_all(bytes).await;
    read_until_closed(&mut stream, WAIT).await
}

/// Asserts an error answer in the envelope, with `code`.
fn assert_envelope(json: &Value, text: &str, code: &str) {
    assert_eq!(json["error"]["code"], code, "{text}");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_a_request_head_is_cut_at_the_header_timeout() {
    let web = Backend::spawn("web").await;
    let timeout = Duration::from_secs(1);
    let lb = BallastProcess::start(
        bin(),
        &with_admin(web.addr, "request_header_timeout = \"1s\""),
    );
    let admin = AdminClient::new(lb.admin_addr());

    let started = Instant::now();
    let stream = TcpStream::connect(admin.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // One byte of a never-ending header every 50 ms: data keeps arriving, the head never
    // completes.
    let trickle = tokio::spawn(async move {
        let _ = writer
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .await;
        let mut ticks = tokio::time::interval(Duration::from_millis(50));
        loop {
            ticks.tick().await;
            if writer.write_all(b"a").await.is_err() {
                break;
            }
        }
    });
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut reader, &mut buf))
        .await
        .expect("the trickling client was never cut");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the server answered a head it never got: {read:?} {:?}",
        String::from_utf8_lossy(&buf)
    );
    assert!(
        started.elapsed() >= timeout,
        "cut after {:?}, before the timeout",
        started.elapsed()
    );
    trickle.abort();

    // Everyone else is served as usual.
    assert_eq!(admin.get("/healthz").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_while_the_open_ones_are_served() {
    let web = Backend::spawn("web").await;
    let lb = BallastProcess::start(
        bin(),
        &with_admin(
            web.addr,
            "max_connections = 2\nrequest_header_timeout = \"60s\"",
        ),
    );
    let addr = lb.admin_addr();

    // Two connections take both slots (the kernel hands connections to accept in order).
    let mut first = TcpStream::connect(addr).await.unwrap();
    let second = TcpStream::connect(addr).await.unwrap();

    // A third is closed at once, without an answer, whatever it sends.
    let refused = send(addr, get("/healthz").as_bytes()).await;
    assert!(refused.closed, "a connection over the limit stayed open");
    assert_eq!(refused.status(), None, "{}", refused.text());

    // The open ones are served.
    first.write_all(get("/healthz").as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut first, WAIT).await;
    assert_eq!(answer.status(), Some(200), "{}", answer.text());

    // Once a slot is free (the first closed after its answer), a new client is served.
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = send(addr, get("/healthz").as_bytes()).await;
        if reply.status() == Some(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no slot came free: {}",
            reply.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_comes_in_the_envelope_and_the_token_comes_first() {
    let web = Backend::spawn("web").await;
    let lb = BallastProcess::start(
        bin(),
        &with_admin(web.addr, &format!("token = \"{TOKEN}\"")),
    );
    let anonymous = AdminClient::new(lb.admin_addr());
    let admin = AdminClient::with_token(lb.admin_addr(), TOKEN);
    let form = br#"{"address":"127.0.0.1:1"}"#.to_vec();

    // Without the token: 401, even for a media type that would be refused.
    let unauthorized = anonymous
        .call(
            http::Method::POST,
            "/api/v1/target-groups/web/targets",
            "text/plain",
            form.clone(),
        )
        .await;
    assert_eq!(unauthorized.status, 401, "{}", unauthorized.text);
    assert_envelope(&unauthorized.json, &unauthorized.text, "Admin.Unauthorized");
    // With it, the media type is refused.
    let unsupported = admin
        .call(
            http::Method::POST,
            "/api/v1/target-groups/web/targets",
            "text/plain",
            form,
        )
        .await;
    assert_eq!(unsupported.status, 415, "{}", unsupported.text);
    assert_envelope(
        &unsupported.json,
        &unsupported.text,
        "Admin.UnsupportedMediaType",
    );

    // A body over the limit: 413, before it is sent.
    let too_large = raw(
        admin.addr,
        format!(
            "PUT /api/v1/config HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 3000000\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
        WAIT,
    )
    .await;
    assert_eq!(too_large.status(), Some(413), "{}", too_large.text());
    let text = too_large.text();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    assert_envelope(&json, &text, "Admin.BodyTooLarge");

    // The router's own answers and bad parameters.
    let cases: [(http::Method, &str, u16, &str); 5] = [
        (http::Method::GET, "/api/v1/nope", 404, "Admin.NotFound"),
        (
            http::Method::DELETE,
            "/api/v1/config",
            405,
            "Admin.MethodNotAllowed",
        ),
        (
            http::Method::PUT,
            "/api/v1/listeners/web/rules/ten",
            400,
            "Admin.InvalidPathParameter",
        ),
        (
            http::Method::DELETE,
            "/api/v1/listeners/web/rules/99",
            404,
            "Admin.UnknownRule",
        ),
        (
            http::Method::PUT,
            "/api/v1/config?dry_run=maybe",
            400,
            "Admin.InvalidQuery",
        ),
    ];
    for (method, path, status, code) in cases {
        let answer = admin
            .call(method.clone(), path, "application/json", b"{}".to_vec())
            .await;
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.text);
        assert_envelope(&answer.json, &answer.text, code);
    }

    // Nothing above changed anything.
    assert_eq!(admin.get("/api/v1/reloads").await.json["failed"], json!(0));
}
