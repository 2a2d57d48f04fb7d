//! The web application firewall on HTTP/2 request bodies: their first bytes are read before
//! the decision, inspected, and then given whole to the target, to HTTP/1.1 and HTTP/2
//! groups alike, whether the client framed them with a length, in many DATA frames, or with
//! trailers; a client that does not send them in time gets a 408.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ballast_testkit::{body_digest, Backend, BallastProcess, DIGEST_START};
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

const WAIT: Duration = Duration::from_secs(30);

const ATTACK: &str = "user=admin&pass=x%27+or+%271%27%3D%271";
const FORM: &str = "application/x-www-form-urlencoded";

fn config(h1: SocketAddr, h2: SocketAddr) -> String {
    format!(
        r#"[admin]
bind = "127.0.0.1:0"

[target_groups.h1]
targets = ["{h1}"]

[target_groups.h2]
targets = ["{h2}"]
protocol_version = "http2"

[listeners.to_h1]
bind = "127.0.0.1:0"
default_action = {{ forward = "h1" }}
waf = "ballast-core"

[listeners.to_h2]
bind = "127.0.0.1:0"
default_action = {{ forward = "h2" }}
waf = "ballast-core"

[listeners.slow]
bind = "127.0.0.1:0"
request_header_timeout = "1s"
default_action = {{ forward = "h1" }}
waf = "ballast-core"
"#
    )
}

type Frames = Vec<Result<Frame<Bytes>, std::convert::Infallible>>;

/// Posts a form as the given frames on a fresh HTTP/2 connection (prior knowledge), with a
/// `Content-Length` when `length` is given; the status and the response body.
async fn post(addr: SocketAddr, frames: Frames, length: Option<usize>) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut request = Request::post(format!("http://{addr}/login")).header("content-type", FORM);
    if let Some(n) = length {
        request = request.header("content-length", n);
    }
    let request = request
        .body(StreamBody::new(futures_util::stream::iter(frames)))
        .unwrap();
    let response: Response<_> = tokio::time::timeout(WAIT, sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `text` as DATA frames of at most `size` bytes.
fn split(text: &str, size: usize) -> Frames {
    text.as_bytes()
        .chunks(size)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_request_bodies_are_inspected_then_forwarded_whole() {
    let h1 = Backend::spawn("h1").await;
    let h2 = Backend::spawn("h2").await;
    let lb = BallastProcess::start(bin(), &config(h1.addr, h2.addr));
    let honest_big = format!("note={}", "a".repeat(40_000));
    // Past the first 8 KiB the firewall does not look (oversize_handling = "continue").
    let attack_late = format!("note={}&{ATTACK}", "a".repeat(9_000));
    for (listener, backend) in [("to_h1", &h1), ("to_h2", &h2)] {
        let addr = lb.addr(listener);
        let mut forwarded = 0;
        // Attacks are refused however the client frames them, and reach no target.
        for (frames, length) in [
            (split(ATTACK, 1000), Some(ATTACK.len())),
            (split(ATTACK, 1000), None),
            (split(ATTACK, 5), None),
            (split(ATTACK, 7), Some(ATTACK.len())),
        ] {
            let (status, text) = post(addr, frames, length).await;
            assert_eq!(status, 403, "{listener}: {text}");
        }
        assert_eq!(
            backend.hits(),
            0,
            "{listener}: an attack reached the target"
        );

        // Honest bodies pass, whole, byte for byte.
        for (body, size, length) in [
            ("user=admin&pass=hunter2", 3, None),
            ("user=admin&pass=hunter2", 1000, Some(23)),
            (honest_big.as_str(), 16_384, Some(honest_big.len())),
            (honest_big.as_str(), 1_000, None),
            (attack_late.as_str(), 4_096, None),
        ] {
            let (status, text) = post(addr, split(body, size), length).await;
            assert_eq!(status, 200, "{listener}: {text}");
            forwarded += 1;
            let seen = backend.recorded();
            assert_eq!(seen.len(), forwarded, "{listener}");
            let last = seen.last().unwrap();
            assert_eq!(last.body_bytes, body.len() as u64, "{listener}");
            let digest = body_digest(DIGEST_START, body.as_bytes());
            assert_eq!(last.body_digest, digest, "{listener}: bytes changed");
        }
        // A body read whole ahead, without a length, goes to an HTTP/1.1 target with one.
        if listener == "to_h1" {
            let first = &h1.recorded()[0];
            assert_eq!(first.headers["content-length"], "23", "{:?}", first.headers);
        }

        // Trailers after a body read ahead still reach the target, and the body whole.
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "abc".parse().unwrap());
        let mut frames = split("user=admin&pass=hunter2", 4);
        frames.push(Ok(Frame::trailers(trailers)));
        let (status, text) = post(addr, frames, None).await;
        assert_eq!(status, 200, "{listener}: {text}");
        let last = backend.recorded().last().cloned().unwrap();
        assert_eq!(last.body_bytes, 23);
        let digest = body_digest(DIGEST_START, b"user=admin&pass=hunter2");
        assert_eq!(last.body_digest, digest, "{listener}: bytes changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_body_that_comes_late_is_waited_for_and_one_that_never_comes_times_out() {
    let h1 = Backend::spawn("h1").await;
    let lb = BallastProcess::start(bin(), &config(h1.addr, h1.addr));
    let addr = lb.addr("slow");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let open = |sender: &mut hyper::client::conn::http2::SendRequest<_>| {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let frames = futures_util::stream::unfold(rx, |mut rx| async move {
            let data = rx.recv().await?;
            Some((Ok::<_, std::convert::Infallible>(Frame::data(data)), rx))
        });
        let body = StreamBody::new(Box::pin(frames));
        let request = Request::post(format!("http://{addr}/login"))
            .header("content-type", FORM)
            .body(body)
            .unwrap();
        (tx, sender.send_request(request))
    };

    // The head alone decides nothing: the answer waits for the body, which is an attack.
    let (tx, answer) = open(&mut sender);
    let mut answer = tokio::spawn(answer);
    let early = tokio::time::timeout(Duration::from_millis(300), &mut answer).await;
    assert!(early.is_err(), "answered before the body came");
    tx.send(Bytes::from_static(ATTACK.as_bytes()))
        .await
        .unwrap();
    drop(tx);
    let response = answer.await.unwrap().unwrap();
    assert_eq!(response.status(), 403);

    // A body that never comes: 408 after the listener's request_header_timeout, and the
    // connection still serves the next stream.
    let (tx, answer) = open(&mut sender);
    let response = tokio::time::timeout(WAIT, answer).await.unwrap().unwrap();
    assert_eq!(response.status(), 408);
    drop(tx);
    let (tx, answer) = open(&mut sender);
    tx.send(Bytes::from_static(b"user=admin&pass=hunter2"))
        .await
        .unwrap();
    drop(tx);
    let response = tokio::time::timeout(WAIT, answer).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(h1.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_and_grpc_streams_are_not_held_for_their_body() {
    use ballast_testkit::{GrpcEchoClient, GrpcEchoServer, Note, WsBackend};
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let grpc = GrpcEchoServer::spawn().await;
    let ws = WsBackend::spawn().await;
    let lb = BallastProcess::start(
        bin(),
        &format!(
            r#"[target_groups.grpc]
targets = ["{grpc}"]
protocol_version = "grpc"

[target_groups.ws]
targets = ["{ws}"]

[listeners.grpc]
bind = "127.0.0.1:0"
default_action = {{ forward = "grpc" }}
waf = "ballast-core"

[listeners.ws]
bind = "127.0.0.1:0"
default_action = {{ forward = "ws" }}
waf = "ballast-core"
"#,
            grpc = grpc.addr,
            ws = ws.addr
        ),
    );

    // A bidirectional call whose client waits for the answer's head before it sends.
    let mut client = GrpcEchoClient::connect(lb.addr("grpc")).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Note>(8);
    let outgoing = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|note| (note, rx))
    });
    let mut chat = tokio::time::timeout(WAIT, client.chat(outgoing))
        .await
        .expect("the call's head was held for its body")
        .unwrap()
        .into_inner();
    let note = Note {
        text: "x".into(),
        n: 1,
    };
    tx.send(note).await.unwrap();
    let first = tokio::time::timeout(WAIT, chat.next()).await.unwrap();
    assert_eq!(first.unwrap().unwrap().n, 2);
    drop(tx);

    // A WebSocket opened with extended CONNECT: its stream is the tunnel, not a body.
    let addr = lb.addr("ws");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (head, socket) =
        ballast_testkit::websocket_over_h2(tcp, "http", &addr.to_string(), "/chat", None).await;
    assert_eq!(head.status, 200);
    let mut socket = socket.unwrap();
    socket.send(Message::text("hello")).await.unwrap();
    let back = tokio::time::timeout(WAIT, socket.next()).await.unwrap();
    assert_eq!(back.unwrap().unwrap(), Message::text("hello"));
}
