//! WebSocket (HTTP/1.1 upgrades) through Ballast, with a real WebSocket client and server:
//! messages of every size both ways, fragments, ping/pong, close codes, subprotocols and
//! extensions passed as they are; refusals; half-close; the tunnel's idle timeout, metrics and
//! log line; tunnels across a reload, cut at the end of a deregistration delay, drained on
//! SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ballast_testkit::admin::AdminClient as Admin;
use ballast_testkit::{wait_until, web_app_config, BallastProcess, RawSwitchBackend, WsBackend};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket to `addr` at `path`, offering `protocols`; frames up to 32 MiB.
async fn open(addr: SocketAddr, path: &str, protocols: Option<&str>) -> (Ws, http::Response<()>) {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    if let Some(p) = protocols {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(32 << 20));
    let (ws, response) = tokio_tungstenite::connect_async_with_config(request, Some(config), false)
        .await
        .unwrap();
    let (parts, _) = response.into_parts();
    (ws, http::Response::from_parts(parts, ()))
}

/// The next data message (pongs are returned too; pings are answered by tungstenite).
async fn next(ws: &mut Ws) -> Message {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a message in time")
        .expect("the stream is open")
        .expect("a valid message")
}

/// Sends `message` and expects it back unchanged.
async fn echo(ws: &mut Ws, message: Message) {
    ws.send(message.clone()).await.unwrap();
    assert_eq!(next(ws).await, message);
}

fn with_admin(config: String) -> String {
    format!("[admin]\nbind = \"127.0.0.1:0\"\n{config}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_every_size_pass_both_ways_untouched() {
    let target = WsBackend::spawn().await;
    let lb = BallastProcess::start(
        bin(),
        &with_admin(web_app_config(&[target.addr], "workers = 1", "", "")),
    );
    let addr = lb.addr("web");
    let (mut ws, response) = open(addr, "/chat?room=1", Some("chat, superchat")).await;
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat");

    echo(&mut ws, Message::text("hello")).await;
    echo(&mut ws, Message::text("héllo wörld ✓")).await;
    for size in [1usize, 125, 126, 65_535, 65_536, 1 << 20, 16 << 20] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        echo(&mut ws, Message::binary(payload)).await;
    }
    // A message in three fragments comes back whole (the server reassembles it; Ballast
    // passed the frames as they were).
    for (op, part, fin) in [
        (OpCode::Data(Data::Text), "frag", false),
        (OpCode::Data(Data::Continue), "men", false),
        (OpCode::Data(Data::Continue), "ted", true),
    ] {
        ws.send(Message::Frame(Frame::message(part, op, fin)))
            .await
            .unwrap();
    }
    assert_eq!(next(&mut ws).await, Message::text("fragmented"));
    ws.send(Message::Ping("are you there".into()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await, Message::Pong("are you there".into()));

    // The target closes with its own code and reason; the client sees them.
    ws.send(Message::text("close:4001")).await.unwrap();
    match next(&mut ws).await {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::from(4001));
            assert_eq!(frame.reason.as_str(), "bye");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // tungstenite answers the close as the client reads on; the target then ends the TCP
    // connection, and Ballast passes that end on.
    let ended = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = ws.next().await {} });
    assert!(ended.await.is_ok(), "the client saw the connection end");
    drop(ws);
    wait_until("the target's socket closed", WAIT, || target.open() == 0).await;

    // What the target saw: the upgrade with the client's WebSocket fields, and Ballast's
    // forwarding fields.
    let seen = &target.seen()[0];
    let field = |name: &str| {
        seen.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} missing in {seen:?}"))
    };
    assert_eq!(field("upgrade"), "websocket");
    assert_eq!(field("connection").to_ascii_lowercase(), "upgrade");
    assert_eq!(field("sec-websocket-version"), "13");
    assert_eq!(field("sec-websocket-protocol"), "chat, superchat");
    assert!(!field("sec-websocket-key").is_empty());
    assert_eq!(field("x-forwarded-for"), "127.0.0.1");

    let admin = Admin::new(lb.admin_addr());
    let m = |s: &str| format!("ballast_listener_{s}{{listener=\"web\"}}");
    wait_until_metric(&admin, &m("upgrades_active"), 0.0).await;
    assert_eq!(admin.metric(&m("upgrades_total")).await, 1.0);
    assert_eq!(admin.metric(&m("upgrades_refused_total")).await, 0.0);
    let sent = admin
        .metric("ballast_listener_upgraded_bytes_total{listener=\"web\",direction=\"from_client\"}")
        .await;
    let back = admin
        .metric("ballast_listener_upgraded_bytes_total{listener=\"web\",direction=\"from_target\"}")
        .await;
    // Both ways carried the 17 MiB of payloads, plus framing.
    assert!(sent > 17.0 * 1024.0 * 1024.0, "{sent}");
    assert!(back > 17.0 * 1024.0 * 1024.0, "{back}");
}

async fn wait_until_metric(admin: &Admin, sample: &str, value: f64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = admin.metric(sample).await;
        if now == value {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sample} stayed {now}, expected {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_the_target_refuses_is_an_ordinary_response() {
    let target = WsBackend::refusing().await;
    let lb = BallastProcess::start(
        bin(),
        &with_admin(web_app_config(&[target.addr], "workers = 1", "", "")),
    );
    let addr = lb.addr("web");
    let request = format!("ws://{addr}/chat").into_client_request().unwrap();
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            // tungstenite's client shows the body as it arrived: the target ended it by
            // closing, so Ballast sent it chunked to an HTTP/1.1 client.
            let body = response.body().clone().unwrap_or_default();
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains("no websockets here"), "{body}");
        }
        other => panic!("expected the target's 403, got {other:?}"),
    }
    assert_eq!(target.upgrades(), 0);
    let admin = Admin::new(lb.admin_addr());
    wait_until_metric(
        &admin,
        "ballast_listener_upgrades_refused_total{listener=\"web\"}",
        1.0,
    )
    .await;
    assert_eq!(
        admin
            .metric("ballast_listener_upgrades_total{listener=\"web\"}")
            .await,
        0.0
    );
}

/// Reads from `stream` until `want` bytes arrived.
async fn read_exactly(stream: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = vec![0u8; want];
    tokio::time::timeout(WAIT, stream.read_exact(&mut got))
        .await
        .expect("bytes in time")
        .unwrap();
    got
}

/// Reads a response head (up to the blank line) byte by byte, so nothing after it is taken.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(read_exactly(stream, 1).await[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_pass_as_sent_extensions_are_agreed_end_to_end_and_half_close_is_honoured() {
    let target = RawSwitchBackend::spawn(
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
    )
    .await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[target.addr], "workers = 1", "", ""),
    );
    let mut client = TcpStream::connect(lb.addr("web")).await.unwrap();
    client
        .write_all(
            b"GET /feed HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
        )
        .await
        .unwrap();
    let head = read_head(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(lower.contains("\r\nupgrade: websocket\r\n"), "{head}");
    assert!(
        head.contains(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
        ),
        "{head}"
    );
    let seen = &target.heads()[0];
    assert!(seen.starts_with("GET /feed HTTP/1.1\r\n"), "{seen}");
    assert!(
        seen.contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
        "{seen}"
    );
    assert!(
        seen.contains("Connection: upgrade\r\nUpgrade: websocket\r\n"),
        "{seen}"
    );
    assert!(!seen.contains("keep-alive"), "{seen}");

    // A compressed frame (RSV1 set, as permessage-deflate sends it) and bytes that are no
    // frame at all: a tunnel passes both exactly as they are.
    let compressed = [
        0xc1, 0x87, 1, 2, 3, 4, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,
    ];
    client.write_all(&compressed).await.unwrap();
    assert_eq!(
        read_exactly(&mut client, compressed.len()).await,
        compressed
    );
    let noise: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let (mut rd, mut wr) = client.into_split();
    let writer = {
        let noise = noise.clone();
        tokio::spawn(async move {
            wr.write_all(&noise).await.unwrap();
            // The client is done sending: its end reaches the target, whose answer still
            // comes back.
            wr.shutdown().await.unwrap();
            wr
        })
    };
    let mut back = Vec::new();
    tokio::time::timeout(WAIT, rd.read_to_end(&mut back))
        .await
        .expect("the target's end in time")
        .unwrap();
    let _wr = writer.await.unwrap();
    assert_eq!(back.len(), noise.len() + 3);
    assert_eq!(&back[..noise.len()], &noise[..]);
    assert_eq!(&back[noise.len()..], b"end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_with_no_traffic_for_its_idle_timeout_is_closed() {
    let target = WsBackend::spawn().await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &[target.addr],
            "workers = 1",
            "upgrade_idle_timeout = \"1s\"\nidle_timeout = \"60s\"",
            "",
        ),
    );
    let (mut ws, _) = open(lb.addr("web"), "/", None).await;
    echo(&mut ws, Message::text("still here")).await;
    // Nothing moves: Ballast closes both sides (the client sees its stream end without a
    // close frame, as it would from a cloud load balancer's idle timeout).
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the idle tunnel was not closed");
    wait_until("the target's socket closed", WAIT, || target.open() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_outlive_a_reload_and_end_with_their_targets_deregistration_delay() {
    let a = WsBackend::spawn().await;
    let b = WsBackend::spawn().await;
    let group = "deregistration_delay = \"1s\"";
    let lb = BallastProcess::start(
        bin(),
        &with_admin(web_app_config(&[a.addr, b.addr], "workers = 1", "", group)),
    );
    let addr = lb.addr("web");
    let admin = Admin::new(lb.admin_addr());
    let (mut first, _) = open(addr, "/", None).await;
    let (mut second, _) = open(addr, "/", None).await;
    // Round robin: one tunnel each.
    wait_until("one tunnel on each target", WAIT, || {
        (a.open(), b.open()) == (1, 1)
    })
    .await;
    // Each tunnel is a request in flight on its target for as long as it lives.
    let targets = admin.get("/api/v1/target-groups/app/targets").await.json;
    let in_flight: Vec<u64> = targets["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["in_flight"].as_u64().unwrap())
        .collect();
    assert_eq!(in_flight, vec![1, 1], "{targets}");

    // A reload that leaves the listener alone keeps both tunnels.
    lb.rewrite_config(&with_admin(web_app_config(
        &[a.addr, b.addr],
        "workers = 1",
        "request_header_timeout = \"20s\"",
        group,
    )));
    lb.signal("HUP");
    lb.wait_for_log("configuration reloaded", WAIT);
    echo(&mut first, Message::text("after reload")).await;
    echo(&mut second, Message::text("after reload")).await;

    // Deregistering `a` lets its tunnel live out the delay, then cuts it; `b`'s goes on.
    let gone = admin
        .delete(&format!("/api/v1/target-groups/app/targets/{}", a.addr))
        .await;
    assert_eq!(gone.status, 202, "{}", gone.text);
    wait_until("a's tunnel cut", WAIT, || a.open() == 0).await;
    let (on_a, on_b) = if b.open() == 1 {
        (&mut first, &mut second)
    } else {
        (&mut second, &mut first)
    };
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match on_a.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the client of the cut tunnel saw it end");
    echo(on_b, Message::text("b goes on")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_tunnels_up_to_the_drain_timeout() {
    let target = WsBackend::spawn().await;
    let mut lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &[target.addr],
            "workers = 1\ndrain_timeout = \"2s\"",
            "",
            "",
        ),
    );
    let (mut ws, _) = open(lb.addr("web"), "/", None).await;
    lb.signal("TERM");
    lb.wait_for_log("draining connections", WAIT);
    // Still carried while the drain lasts.
    echo(&mut ws, Message::text("during the drain")).await;
    lb.wait_exit(WAIT);
    wait_until("the target's socket closed", WAIT, || target.open() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_gets_one_access_log_line_when_it_ends() {
    let target = WsBackend::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let lb = BallastProcess::start(
        bin(),
        &format!(
            "[access_log]\npath = \"{}\"\n{}",
            log.display(),
            web_app_config(&[target.addr], "workers = 1", "", "")
        ),
    );
    let (mut ws, _) = open(lb.addr("web"), "/live", None).await;
    echo(&mut ws, Message::binary(vec![7u8; 1000])).await;
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    // The close handshake is over and the target closed its side; the client now closes
    // its own, which ends the tunnel.
    drop(ws);
    let lines = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    wait_until("the tunnel's log line", WAIT, || !lines().is_empty()).await;
    let line = &lines()[0];
    assert_eq!(line["status"], 101, "{line}");
    assert_eq!(line["target_status"], 101, "{line}");
    assert!(
        line["request"].as_str().unwrap().starts_with("GET http://"),
        "{line}"
    );
    // The 1,000-byte message each way, with its framing (and the close frames).
    assert!(line["received_bytes"].as_u64().unwrap() > 1000, "{line}");
    assert!(line["sent_bytes"].as_u64().unwrap() > 1000, "{line}");
    assert!(line["error_reason"].is_null(), "{line}");
}

/// Echoes a text and a 1 MiB binary message over any WebSocket stream, then closes it with
/// a code the target sends back.
async fn converse<S>(ws: &mut WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    for message in [
        Message::text("over the bridge"),
        Message::binary(vec![3u8; 1 << 20]),
    ] {
        ws.send(message.clone()).await.unwrap();
        let back = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
        assert_eq!(back.unwrap().unwrap(), message);
    }
    ws.send(Message::text("close:4002")).await.unwrap();
    match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::from(4002)),
        other => panic!("expected a close frame, got {other:?}"),
    }
    let _ = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = ws.next().await {} }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_open_websockets_with_extended_connect() {
    let target = WsBackend::spawn().await;
    let lb = BallastProcess::start(
        bin(),
        &with_admin(web_app_config(&[target.addr], "workers = 1", "", "")),
    );
    let addr = lb.addr("web");
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (head, ws) =
        ballast_testkit::websocket_over_h2(tcp, "http", &addr.to_string(), "/chat", Some("chat"))
            .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["sec-websocket-protocol"], "chat");
    assert!(
        !head.headers.contains_key("sec-websocket-accept"),
        "the accept answers a key the HTTP/2 client never sent"
    );
    let mut ws = ws.unwrap();
    converse(&mut ws).await;
    drop(ws);

    // The target got an ordinary HTTP/1.1 WebSocket handshake, with a key of Ballast's.
    let seen = &target.seen()[0];
    let field = |name: &str| {
        seen.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} missing in {seen:?}"))
    };
    assert_eq!(field("upgrade"), "websocket");
    assert_eq!(field("sec-websocket-key").len(), 24);
    assert_eq!(field("sec-websocket-protocol"), "chat");
    let admin = Admin::new(lb.admin_addr());
    assert_eq!(
        admin
            .metric("ballast_listener_upgrades_total{listener=\"web\"}")
            .await,
        1.0
    );
    wait_until_metric(
        &admin,
        "ballast_listener_upgrades_active{listener=\"web\"}",
        0.0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_work_over_tls_with_either_alpn() {
    use ballast_testkit::tls::{tls_connect, ClientOptions, TestCa};
    let target = WsBackend::spawn().await;
    let ca = TestCa::new("ws");
    let cert = ca.issue("site", &["localhost"]);
    let lb = BallastProcess::start(
        bin(),
        &format!(
            "[server]\nworkers = 1\n[listeners.web]\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\ndefault_action = {{ forward = \"app\" }}\ntls = {{ certificates = [{{ cert = \"{}\", key = \"{}\" }}] }}\n[target_groups.app]\ntargets = [\"{}\"]\n",
            cert.cert.display(),
            cert.key.display(),
            target.addr
        ),
    );
    let addr = lb.addr("web");
    let options = |alpn: &[u8]| ClientOptions {
        sni: Some("localhost".into()),
        alpn: vec![alpn.to_vec()],
        ..ClientOptions::default()
    };

    // HTTP/1.1 over TLS: the classic wss:// handshake.
    let tls = tls_connect(addr, &options(b"http/1.1")).await.unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async("wss://localhost/live", tls.stream)
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    converse(&mut ws).await;

    // HTTP/2 over TLS: extended CONNECT.
    let tls = tls_connect(addr, &options(b"h2")).await.unwrap();
    assert_eq!(tls.alpn.as_deref(), Some(&b"h2"[..]));
    let (head, ws) =
        ballast_testkit::websocket_over_h2(tls.stream, "https", "localhost", "/live", None).await;
    assert_eq!(head.status, 200);
    converse(&mut ws.unwrap()).await;
    assert_eq!(target.upgrades(), 2);
}
