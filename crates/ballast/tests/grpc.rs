//! gRPC and HTTP/2 to targets (`protocol_version = "grpc"` / `"http2"`), through the binary
//! to tonic's real `grpc.health.v1` server (HTTP/2 only: any answer proves HTTP/2 to the
//! target): a unary call and a server-streaming one with their trailers, HTTP/1.1 clients to
//! an HTTP/2 group, and Ballast's own errors as gRPC statuses (UNAVAILABLE, DEADLINE_EXCEEDED).
//! The calls are written by hand over hyper's HTTP/2 client: length-prefixed protobuf
//! messages, `grpc-status` read from the trailers.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ballast_testkit::client::{get, H2};
use ballast_testkit::{closed_port, BallastProcess, GrpcHealthServer};
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};

const WAIT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn config(targets: &[SocketAddr], version: &str, group: &str) -> String {
    format!(
        "[server]\nworkers = 1\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"svc\" }}\n[target_groups.svc]\nprotocol_version = \"{version}\"\ntargets = [{}]\n{group}\n",
        ballast_testkit::toml_targets(targets)
    )
}

/// An h2c connection to `addr`.
async fn h2c(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

/// A gRPC call of `method` with one message `message` (protobuf bytes).
fn call(
    addr: SocketAddr,
    method: &str,
    message: &[u8],
    timeout: Option<&str>,
) -> Request<Full<Bytes>> {
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    let mut request = Request::post(format!("http://{addr}/grpc.health.v1.Health/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(t) = timeout {
        request = request.header("grpc-timeout", t);
    }
    request.body(Full::new(Bytes::from(framed))).unwrap()
}

/// The whole answer: head, data, trailers.
async fn finish(response: Response<Incoming>) -> (http::response::Parts, Vec<u8>, HeaderMap) {
    let (parts, body) = response.into_parts();
    let collected = tokio::time::timeout(WAIT, body.collect())
        .await
        .unwrap()
        .unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    (parts, collected.to_bytes().to_vec(), trailers)
}

/// `grpc-status` of an answer: from the trailers, or from the head of a trailers-only one.
fn grpc_status(parts: &http::response::Parts, trailers: &HeaderMap) -> String {
    trailers
        .get("grpc-status")
        .or_else(|| parts.headers.get("grpc-status"))
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no grpc-status in {parts:?} / {trailers:?}"))
}

/// The next non-empty DATA frame of a streaming answer.
async fn next_message(body: &mut Incoming) -> Vec<u8> {
    loop {
        let frame = tokio::time::timeout(WAIT, body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() {
                return data.to_vec();
            }
        }
    }
}

/// HealthCheckResponse { status: SERVING } and { status: NOT_SERVING }, length-prefixed.
const SERVING: &[u8] = &[0, 0, 0, 0, 2, 0x08, 0x01];
const NOT_SERVING: &[u8] = &[0, 0, 0, 0, 2, 0x08, 0x02];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_reach_an_http2_target_with_their_trailers() {
    let server = GrpcHealthServer::spawn().await;
    let lb = BallastProcess::start(bin(), &config(&[server.addr], "grpc", ""));
    let addr = lb.addr("web");
    let mut client = h2c(addr).await;

    // Unary.
    let response = client
        .send_request(call(addr, "Check", &[], None))
        .await
        .unwrap();
    let (parts, data, trailers) = finish(response).await;
    assert_eq!(parts.status, 200);
    assert_eq!(parts.headers["content-type"], "application/grpc");
    assert_eq!(data, SERVING);
    assert_eq!(grpc_status(&parts, &trailers), "0");

    // Server streaming: every status change arrives as it happens, on one open stream.
    let response = client
        .send_request(call(addr, "Watch", &[], None))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    assert_eq!(next_message(&mut body).await, SERVING);
    server.set("", false).await;
    assert_eq!(next_message(&mut body).await, NOT_SERVING);
    server.set("", true).await;
    assert_eq!(next_message(&mut body).await, SERVING);
    drop(body);

    // An unknown service is the target's own gRPC error, passed through.
    let unknown = [0x0a, 0x04, b'n', b'o', b'p', b'e'];
    let response = client
        .send_request(call(addr, "Check", &unknown, None))
        .await
        .unwrap();
    let (parts, _, trailers) = finish(response).await;
    assert_eq!(
        grpc_status(&parts, &trailers),
        "5",
        "NOT_FOUND from the target"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_and_http2_clients_reach_an_http2_group() {
    let server = GrpcHealthServer::spawn().await;
    let lb = BallastProcess::start(bin(), &config(&[server.addr], "http2", ""));
    let addr = lb.addr("web");
    // Plain requests to an HTTP/2-only target: what it answers (a gRPC server answers any
    // unknown path with a gRPC error) is passed back whatever the client spoke.
    let over_h2 = H2::connect(addr).await.get(addr, "/nothing").await;
    assert_eq!(over_h2.status(), 200);
    assert_eq!(
        over_h2.headers()["grpc-status"],
        "12",
        "UNIMPLEMENTED from tonic"
    );
    let over_h1 = get(addr, "/nothing").await;
    assert_eq!(over_h1.status(), 200);
    assert_eq!(over_h1.headers()["grpc-status"], "12");
}

/// An HTTP/2 server that accepts streams and never answers them.
async fn silent_h2_target() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
                    std::future::pending::<Result<Response<Full<Bytes>>, std::convert::Infallible>>(
                    )
                    .await
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ballasts_own_errors_for_grpc_requests_are_grpc_statuses() {
    // Nothing listens: UNAVAILABLE, as a gRPC client retries.
    let lb = BallastProcess::start(bin(), &config(&[closed_port()], "grpc", ""));
    let addr = lb.addr("web");
    let response = h2c(addr)
        .await
        .send_request(call(addr, "Check", &[], None))
        .await
        .unwrap();
    let (parts, data, trailers) = finish(response).await;
    assert_eq!(parts.status, 200, "gRPC errors travel as HTTP 200");
    assert_eq!(parts.headers["content-type"], "application/grpc");
    assert_eq!(grpc_status(&parts, &trailers), "14");
    assert!(data.is_empty());
    assert_eq!(parts.headers["grpc-message"], "Target.ConnectionRefused");

    // No target at all: UNAVAILABLE too.
    let lb = BallastProcess::start(bin(), &config(&[], "grpc", ""));
    let addr = lb.addr("web");
    let response = h2c(addr)
        .await
        .send_request(call(addr, "Check", &[], None))
        .await
        .unwrap();
    let (parts, _, trailers) = finish(response).await;
    assert_eq!(grpc_status(&parts, &trailers), "14");

    // A target that never answers, and a deadline of 300 ms: DEADLINE_EXCEEDED from
    // Ballast, long before the group's response timeout.
    let silent = silent_h2_target().await;
    // (The group's timeout is an hour: only the deadline can end this wait within WAIT.)
    let lb = BallastProcess::start(
        bin(),
        &config(&[silent], "grpc", "response_timeout = \"1h\""),
    );
    let addr = lb.addr("web");
    let mut client = h2c(addr).await;
    let answer = tokio::time::timeout(
        WAIT,
        client.send_request(call(addr, "Check", &[], Some("300m"))),
    );
    let response = answer.await.expect("the deadline ended the wait").unwrap();
    let (parts, _, trailers) = finish(response).await;
    assert_eq!(grpc_status(&parts, &trailers), "4");
    assert_eq!(parts.headers["grpc-message"], "Target.ResponseTimeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_reach_http2_targets_with_their_bodies_both_ways() {
    use ballast_testkit::client::{count_body, post, send_streaming};
    use ballast_testkit::Backend;
    let target = Backend::spawn("h2").await;
    let lb = BallastProcess::start(bin(), &config(&[target.addr], "http2", ""));
    let addr = lb.addr("web");
    // HTTP/1.1 client: a GET, a POST with a body, a download of 5 MB streamed back.
    assert_eq!(get(addr, "/one").await.status(), 200);
    let response = post(addr, "/orders", b"{\"qty\":12}").await;
    assert_eq!(response.status(), 200);
    let response = send_streaming(
        addr,
        Request::get("/download?bytes=5000000")
            .header("host", addr.to_string())
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(count_body(response.into_body()).await.unwrap(), 5_000_000);
    // HTTP/2 client.
    let mut h2 = H2::connect(addr).await;
    assert_eq!(h2.get(addr, "/two").await.status(), 200);
    let seen = target.recorded();
    assert_eq!(seen.len(), 4);
    assert!(
        seen.iter().all(|r| r.version == http::Version::HTTP_2),
        "{seen:?}"
    );
    assert_eq!(seen[1].body_bytes, 10);
    assert_eq!(seen[1].headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen[3].path, "/two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_http2_groups_agree_on_h2_by_alpn_and_http1_groups_do_not() {
    use ballast_testkit::tls::{TestCa, TlsBackend};
    let ca = TestCa::new("backend ca");
    let target = TlsBackend::spawn(&ca.issue("backend", &["backend.internal"])).await;
    let group = |name: &str, version: &str| {
        format!(
            "[target_groups.{name}]\nprotocol = \"https\"\nprotocol_version = \"{version}\"\ntargets = [\"{}\"]\ntls = {{ ca = \"{}\", server_name = \"backend.internal\" }}\n",
            target.addr,
            ca.ca_file().display()
        )
    };
    let config = format!(
        "[server]\nworkers = 1\n[listeners.two]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"h2\" }}\n[listeners.one]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"h1\" }}\n{}{}",
        group("h2", "http2"),
        group("h1", "http1")
    );
    let lb = BallastProcess::start(bin(), &config);
    let over_h2 = get(lb.addr("two"), "/").await;
    assert_eq!(over_h2.status(), 200);
    assert_eq!(over_h2.headers()["x-version"], "HTTP/2.0");
    assert_eq!(over_h2.body(), &b"tls-ok"[..]);
    let over_h1 = get(lb.addr("one"), "/").await;
    assert_eq!(over_h1.headers()["x-version"], "HTTP/1.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_uploads_to_http2_groups_get_the_right_answer_when_things_go_wrong_or_wait() {
    use ballast_testkit::client::{post, read_until_closed};
    use ballast_testkit::Backend;
    use tokio::io::AsyncWriteExt;
    // No target reachable: the target's fault (502), not the client's, though its body was
    // still on its way.
    let lb = BallastProcess::start(bin(), &config(&[closed_port()], "http2", ""));
    let response = post(lb.addr("web"), "/orders", b"{\"qty\":1}").await;
    assert_eq!(response.status(), 502);

    // A client that waits for 100 Continue gets it, then its answer.
    let target = Backend::spawn("h2").await;
    let lb = BallastProcess::start(bin(), &config(&[target.addr], "http2", ""));
    let mut client = tokio::net::TcpStream::connect(lb.addr("web"))
        .await
        .unwrap();
    client
        .write_all(
            b"PUT /blob HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let mut interim = [0u8; 25];
    tokio::time::timeout(
        WAIT,
        tokio::io::AsyncReadExt::read_exact(&mut client, &mut interim),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    client.write_all(b"hello").await.unwrap();
    client.shutdown().await.unwrap();
    let answer = read_until_closed(&mut client, WAIT).await.text();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert_eq!(target.recorded()[0].body_bytes, 5);
}

/// A stream of `n` notes `{text, i}`, one every few milliseconds (so they cross the proxy
/// while the call is open, not as one burst).
fn notes(
    text: &'static str,
    n: u32,
) -> impl futures_util::Stream<Item = ballast_testkit::Note> + Send {
    use futures_util::StreamExt;
    futures_util::stream::iter(0..n).then(move |i| async move {
        tokio::time::sleep(Duration::from_millis(2)).await;
        ballast_testkit::Note {
            text: text.to_owned(),
            n: i,
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_four_kinds_of_grpc_call_pass_between_tonic_client_and_server() {
    use ballast_testkit::{GrpcEchoClient, GrpcEchoServer, Note};
    use futures_util::StreamExt;
    let server = GrpcEchoServer::spawn().await;
    let lb = BallastProcess::start(bin(), &config(&[server.addr], "grpc", ""));
    let mut client = GrpcEchoClient::connect(lb.addr("web")).await;

    // Unary, with metadata both ways.
    let mut request = tonic::Request::new(Note {
        text: "hi".into(),
        n: 41,
    });
    request
        .metadata_mut()
        .insert("x-client", "tonic".parse().unwrap());
    let answer = client.unary(request).await.unwrap();
    assert_eq!(
        answer.get_ref(),
        &Note {
            text: "hi".into(),
            n: 42
        }
    );

    // A gRPC error with a custom trailer passes unchanged.
    let failed = client
        .unary(tonic::Request::new(Note {
            text: "fail".into(),
            n: 0,
        }))
        .await
        .unwrap_err();
    assert_eq!(failed.code(), tonic::Code::FailedPrecondition);
    assert_eq!(failed.message(), "asked to fail");
    assert_eq!(failed.metadata().get("x-detail").unwrap(), "custom trailer");

    // Server streaming: 100 notes.
    let mut stream = client
        .count(tonic::Request::new(Note {
            text: "c".into(),
            n: 100,
        }))
        .await
        .unwrap()
        .into_inner();
    let mut seen = 0;
    while let Some(note) = tokio::time::timeout(WAIT, stream.next()).await.unwrap() {
        assert_eq!(note.unwrap().n, seen);
        seen += 1;
    }
    assert_eq!(seen, 100);

    // Client streaming: 50 notes in, their sum out.
    let sum = client.sum(notes("s", 50)).await.unwrap().into_inner();
    assert_eq!(sum.n, (0..50).sum::<u32>());
    assert_eq!(sum.text.len(), 50);

    // Bidirectional: each note answered while the client is still sending.
    let mut chat = client.chat(notes("b", 30)).await.unwrap().into_inner();
    let mut answered = Vec::new();
    while let Some(note) = tokio::time::timeout(WAIT, chat.next()).await.unwrap() {
        answered.push(note.unwrap().n);
    }
    assert_eq!(answered, (0..30).map(|n| n * 2).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_and_a_target_killed_mid_stream() {
    use ballast_testkit::tls::{tls_connect, ClientOptions, TestCa};
    use ballast_testkit::{GrpcEchoClient, GrpcEchoServer, Note};
    use futures_util::StreamExt;
    let server = GrpcEchoServer::spawn().await;
    let ca = TestCa::new("grpc");
    let cert = ca.issue("site", &["api.local"]);
    let lb = BallastProcess::start(
        bin(),
        &format!(
            "[server]\nworkers = 1\n[listeners.web]\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\ndefault_action = {{ forward = \"svc\" }}\ntls = {{ certificates = [{{ cert = \"{}\", key = \"{}\" }}] }}\n[target_groups.svc]\nprotocol_version = \"grpc\"\ntargets = [\"{}\"]\n",
            cert.cert.display(),
            cert.key.display(),
            server.addr
        ),
    );
    let options = ClientOptions {
        sni: Some("api.local".into()),
        alpn: vec![b"h2".to_vec()],
        ..ClientOptions::default()
    };
    let tls = tls_connect(lb.addr("web"), &options).await.unwrap();
    let mut client = GrpcEchoClient::over(tls.stream, "https://api.local").await;
    let answer = client
        .unary(tonic::Request::new(Note {
            text: "tls".into(),
            n: 1,
        }))
        .await
        .unwrap();
    assert_eq!(answer.get_ref().n, 2);

    // A bidirectional call is open when the target dies: the client's stream ends in an
    // error, never a clean end, and the next call finds no target (UNAVAILABLE).
    let (tx, rx) = tokio::sync::mpsc::channel::<Note>(8);
    let outgoing = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|note| (note, rx))
    });
    let mut chat = client.chat(outgoing).await.unwrap().into_inner();
    tx.send(Note {
        text: "x".into(),
        n: 1,
    })
    .await
    .unwrap();
    let first = tokio::time::timeout(WAIT, chat.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.n, 2);
    server.kill();
    let ended = tokio::time::timeout(WAIT, chat.next()).await.unwrap();
    assert!(
        matches!(ended, Some(Err(_))),
        "the cut stream reports an error: {ended:?}"
    );
    drop(tx);
    let after = client
        .unary(tonic::Request::new(Note {
            text: "again".into(),
            n: 1,
        }))
        .await
        .unwrap_err();
    assert_eq!(after.code(), tonic::Code::Unavailable, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailers_cross_between_http1_and_http2_both_ways() {
    use ballast_testkit::client::read_until_closed;
    use http_body_util::StreamBody;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // An HTTP/2 client's request trailers reach an HTTP/1.1 target in the last chunk; the
    // target's response trailers come back as HTTP/2 trailers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h1_target = listener.local_addr().unwrap();
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel::<String>();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("\r\n0\r\n") || !seen.ends_with(b"\r\n\r\n")
        {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0);
            seen.extend_from_slice(&buf[..n]);
        }
        let _ = seen_tx.send(String::from_utf8_lossy(&seen).into_owned());
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-reply: yes\r\n\r\n")
            .await
            .unwrap();
        let _ = stream.read(&mut buf).await;
    });
    let lb = BallastProcess::start(bin(), &config(&[h1_target], "http1", ""));
    let addr = lb.addr("web");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    let frames: Vec<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> = vec![
        Ok(hyper::body::Frame::data(Bytes::from_static(b"abc"))),
        Ok(hyper::body::Frame::trailers(trailers)),
    ];
    let request = Request::post(format!("http://{addr}/up"))
        .body(StreamBody::new(futures_util::stream::iter(frames)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, data, trailers) = finish(response).await;
    assert_eq!(parts.status, 200);
    assert_eq!(data, b"ok");
    assert_eq!(trailers["x-reply"], "yes");
    let seen = tokio::time::timeout(WAIT, seen_rx).await.unwrap().unwrap();
    assert!(seen.contains("\r\n0\r\nx-checksum: abc\r\n\r\n"), "{seen}");

    // An HTTP/1.1 client's chunked trailers reach an HTTP/2 target as HTTP/2 trailers; the
    // target's trailers come back in the last chunk.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h2_target = listener.local_addr().unwrap();
    let (got_tx, got_rx) = tokio::sync::oneshot::channel::<HeaderMap>();
    let got_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(got_tx)));
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let got_tx = std::sync::Arc::clone(&got_tx);
            async move {
                let collected = req.into_body().collect().await.unwrap();
                if let Some(tx) = got_tx.lock().unwrap().take() {
                    let _ = tx.send(collected.trailers().cloned().unwrap_or_default());
                }
                let mut trailers = HeaderMap::new();
                trailers.insert("x-reply", "yes".parse().unwrap());
                let frames: Vec<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> = vec![
                    Ok(hyper::body::Frame::data(Bytes::from_static(b"ok"))),
                    Ok(hyper::body::Frame::trailers(trailers)),
                ];
                Ok::<_, std::convert::Infallible>(Response::new(StreamBody::new(
                    futures_util::stream::iter(frames),
                )))
            }
        });
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), service)
            .await;
    });
    let lb = BallastProcess::start(bin(), &config(&[h2_target], "http2", ""));
    let mut client = tokio::net::TcpStream::connect(lb.addr("web"))
        .await
        .unwrap();
    client
        .write_all(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\nx-checksum: abc\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut client, WAIT).await.text();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(
        answer.ends_with("\r\n0\r\nx-reply: yes\r\n\r\n"),
        "{answer}"
    );
    let got = tokio::time::timeout(WAIT, got_rx).await.unwrap().unwrap();
    assert_eq!(got["x-checksum"], "abc");
}
