//! TCP listeners through the real binary: echo over many concurrent connections with exact
//! byte counts, half-close, a target that dies mid-flow, the flow hash, idle timeout, and
//! connections that outlive a reload and end with their target's deregistration delay, and a
//! deferred listener whose clients' first bytes go with the target's connect (again to the
//! next target when the first refuses; none for a client that stays silent), and a target
//! that speaks first behind a listener that accepts at once.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ballast_testkit::admin::AdminClient as Admin;
use ballast_testkit::{toml_targets, wait_until, BallastProcess, TcpEcho};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn tcp_config(targets: &[std::net::SocketAddr], listener: &str, group: &str) -> String {
    format!(
        "[admin]\nbind = \"127.0.0.1:0\"\n\n[listeners.db]\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ndefault_action = {{ forward = \"echo\" }}\n{listener}\n\n[target_groups.echo]\nprotocol = \"tcp\"\ntargets = [{}]\n{group}\n",
        toml_targets(targets)
    )
}

/// Sends `payload`, ends the stream, and reads everything back.
async fn round_trip(addr: std::net::SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.split();
    let send = async {
        write.write_all(payload).await.unwrap();
        write.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let receive = read.read_to_end(&mut back);
    let ((), got) = tokio::join!(send, receive);
    got.unwrap();
    back
}

/// A loopback address nothing listens on (bound, noted, closed): connects to it are refused.
fn unused_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The retry path was taken: `dead` was tried (and refused) first at least once.
async fn assert_tried_and_refused(ballast: &BallastProcess, dead: std::net::SocketAddr) {
    let admin = Admin::new(ballast.admin_addr());
    let refused = admin
        .metric(&format!(
            "ballast_target_errors_total{{target_group=\"echo\",target=\"{dead}\"}}"
        ))
        .await;
    assert!(refused >= 1.0, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections_echo_exactly() {
    let (a, b) = (TcpEcho::spawn().await, TcpEcho::spawn().await);
    let ballast = BallastProcess::start(bin(), &tcp_config(&[a.addr, b.addr], "", ""));
    let addr = ballast.addr("db");
    let mut tasks = Vec::new();
    for i in 0..1000u32 {
        tasks.push(tokio::spawn(async move {
            // Sizes from 1 byte to about 64 KiB, each byte telling its connection apart.
            let size = 1 + (i as usize * 67) % 65_000;
            let payload: Vec<u8> = (0..size).map(|j| (i as usize + j) as u8).collect();
            let back = round_trip(addr, &payload).await;
            assert_eq!(back.len(), payload.len(), "connection {i}");
            assert!(back == payload, "connection {i} came back altered");
            size as u64
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    }
    let echoed = a.bytes.load(Ordering::SeqCst) + b.bytes.load(Ordering::SeqCst);
    assert_eq!(echoed, total);
    let (ca, cb) = (
        a.connections.load(Ordering::SeqCst),
        b.connections.load(Ordering::SeqCst),
    );
    assert_eq!(ca + cb, 1000);
    // The flow hash spreads flows (client ports differ) over both targets.
    assert!(ca > 200 && cb > 200, "{ca} / {cb}");
    // Bytes are counted when each connection ends, just after its client has them all.
    let admin = Admin::new(ballast.admin_addr());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let received = admin
            .metric("ballast_listener_received_bytes_total{listener=\"db\"}")
            .await;
        let sent = admin
            .metric("ballast_listener_sent_bytes_total{listener=\"db\"}")
            .await;
        if (received as u64, sent as u64) == (total, total) {
            break;
        }
        assert!(received as u64 <= total && sent as u64 <= total);
        assert!(
            tokio::time::Instant::now() < deadline,
            "{received} / {sent} of {total}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closed_client_still_gets_its_answer() {
    let target = TcpEcho::spawn().await;
    let ballast = BallastProcess::start(bin(), &tcp_config(&[target.addr], "", ""));
    let mut stream = TcpStream::connect(ballast.addr("db")).await.unwrap();
    stream.write_all(b"first ").await.unwrap();
    let mut got = [0u8; 6];
    stream.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"first ");
    // The client ends its side; its last bytes still arrive and are answered, and the
    // target's end reaches the client after the answer.
    stream.write_all(b"last").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, b"last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_dies_resets_its_clients_and_new_flows_go_elsewhere() {
    let (a, b) = (TcpEcho::spawn().await, TcpEcho::spawn().await);
    let ballast = BallastProcess::start(
        bin(),
        &tcp_config(&[a.addr, b.addr], "", "algorithm = \"round_robin\""),
    );
    let addr = ballast.addr("db");
    // Open connections until one is on each target.
    let mut open = Vec::new();
    while a.connections.load(Ordering::SeqCst) == 0 || b.connections.load(Ordering::SeqCst) == 0 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        s.read_exact(&mut got).await.unwrap();
        open.push(s);
        assert!(open.len() < 50);
    }
    a.kill();
    wait_until("the dead target's connections to be reset", WAIT, || {
        a.open.load(Ordering::SeqCst) == 0
    })
    .await;
    // Every connection that was on the dead target ends in a reset, not a clean end.
    let mut resets = 0;
    let mut alive = 0;
    for s in &mut open {
        // The reset may be reported to the write (which then consumes it) or to the read.
        if let Err(e) = s.write_all(b"more").await {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
            resets += 1;
            continue;
        }
        let mut got = [0u8; 4];
        match tokio::time::timeout(WAIT, s.read_exact(&mut got))
            .await
            .unwrap()
        {
            Ok(_) => alive += 1,
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
                resets += 1;
            }
        }
    }
    assert!(resets >= 1 && alive >= 1, "{resets} reset, {alive} alive");
    // New connections all reach the living target (a refused connect moves on).
    for _ in 0..10 {
        assert_eq!(round_trip(addr, b"again").await, b"again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let target = TcpEcho::spawn().await;
    let ballast = BallastProcess::start(
        bin(),
        &tcp_config(&[target.addr], "idle_timeout = \"1s\"", ""),
    );
    let mut stream = TcpStream::connect(ballast.addr("db")).await.unwrap();
    stream.write_all(b"x").await.unwrap();
    let mut got = [0u8; 1];
    stream.read_exact(&mut got).await.unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the idle connection was not closed");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_keeps_talking_outlives_the_idle_timeout() {
    let target = TcpEcho::spawn().await;
    let ballast = BallastProcess::start(
        bin(),
        &tcp_config(&[target.addr], "idle_timeout = \"2s\"", ""),
    );
    let mut stream = TcpStream::connect(ballast.addr("db")).await.unwrap();
    // A message every 250 ms for 5 s: two and a half idle timeouts, never idle for one.
    for i in 0..20u8 {
        stream.write_all(&[i]).await.unwrap();
        let mut got = [0u8; 1];
        tokio::time::timeout(WAIT, stream.read_exact(&mut got))
            .await
            .expect("the echo in time")
            .unwrap_or_else(|e| panic!("closed after {i} messages: {e}"));
        assert_eq!(got, [i]);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_outlive_a_reload_and_end_with_their_targets_deregistration_delay() {
    let target = TcpEcho::spawn().await;
    let config = tcp_config(&[target.addr], "", "deregistration_delay = \"1s\"");
    let ballast = BallastProcess::start(bin(), &config);
    let admin = Admin::new(ballast.admin_addr());
    let mut stream = TcpStream::connect(ballast.addr("db")).await.unwrap();
    stream.write_all(b"one").await.unwrap();
    let mut got = [0u8; 3];
    stream.read_exact(&mut got).await.unwrap();
    // A reload that leaves the listener alone keeps the connection.
    ballast.rewrite_config(&config.replace(
        "deregistration_delay = \"1s\"",
        "deregistration_delay = \"2s\"",
    ));
    ballast.signal("HUP");
    ballast.wait_for_log("configuration reloaded", WAIT);
    stream.write_all(b"two").await.unwrap();
    stream.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"two");
    // Deregistered: no new flow goes to it, and its open one is cut when the delay ends.
    let reply = admin
        .delete(&format!(
            "/api/v1/target-groups/echo/targets/{}",
            target.addr
        ))
        .await;
    assert!(reply.status < 300, "{reply:?}");
    stream.write_all(b"3rd").await.unwrap();
    stream.read_exact(&mut got).await.unwrap();
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
    assert!(
        ended.is_ok(),
        "the flow was not cut at the end of the delay"
    );
    // A group with no target left closes new connections at once.
    let before = target.connections.load(Ordering::SeqCst);
    // (The reset may even reach the client before its connect call returns.)
    if let Ok(mut late) = TcpStream::connect(ballast.addr("db")).await {
        let _ = late.write_all(b"x").await;
        let mut nothing = Vec::new();
        let read = tokio::time::timeout(WAIT, late.read_to_end(&mut nothing))
            .await
            .unwrap();
        assert!(read.is_err() || nothing.is_empty());
    }
    let refused =
        "ballast_l4_connections_refused_total{listener=\"db\",reason=\"Target.NotAvailable\"}";
    assert!(admin.metric(refused).await >= 1.0);
    assert_eq!(target.connections.load(Ordering::SeqCst), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_listener_sends_first_bytes_with_the_connect_and_again_to_the_next_target() {
    // Accept is deferred, so each client's first bytes are read at accept and go out with
    // the target's connect. Half the connections try a port nobody listens on first: the
    // refused connect moves them to the live target, and their bytes must go there whole.
    let live = TcpEcho::spawn().await;
    let dead = unused_port();
    let ballast = BallastProcess::start(
        bin(),
        &tcp_config(
            &[dead, live.addr],
            "defer_accept = true",
            "algorithm = \"round_robin\"",
        ),
    );
    let addr = ballast.addr("db");
    let mut total = 0;
    for i in 0..20usize {
        // From a few bytes to more than one early read (8 KiB) in a single write.
        let size = [5, 700, 8 * 1024, 20_000][i % 4];
        let payload: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
        let back = tokio::time::timeout(WAIT, round_trip(addr, &payload))
            .await
            .unwrap();
        assert!(
            back == payload,
            "connection {i} ({size} bytes) came back altered"
        );
        total += size as u64;
    }
    // A client that stays silent is handed over by the kernel after about a second with
    // nothing to read: it is connected with nothing sent, and relayed as usual once it speaks.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    wait_until("the silent client's target connection", WAIT, || {
        live.connections.load(Ordering::SeqCst) == 21
    })
    .await;
    silent.write_all(b"spoke late").await.unwrap();
    let mut got = [0u8; 10];
    tokio::time::timeout(WAIT, silent.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"spoke late");
    total += got.len() as u64;
    assert_eq!(live.bytes.load(Ordering::SeqCst), total);
    assert_eq!(live.connections.load(Ordering::SeqCst), 21);
    assert_tried_and_refused(&ballast, dead).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_speaks_first_is_heard_before_its_client_sends_anything() {
    // SMTP-like: the target greets, the client answers. The listener accepts at once, finds
    // nothing from the client, and opens the target with nothing to send: connected within
    // the connect call on loopback, or refused by the dead port round robin tries first
    // (the connection then moves to the live target, as with first bytes).
    let banner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live = banner.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = banner.accept().await {
            tokio::spawn(async move {
                conn.write_all(b"220 ready\r\n").await?;
                let mut line = [0u8; 9];
                conn.read_exact(&mut line).await?;
                conn.write_all(b"250 ").await?;
                conn.write_all(&line).await?;
                conn.shutdown().await
            });
        }
    });
    let dead = unused_port();
    let ballast = BallastProcess::start(
        bin(),
        &tcp_config(&[dead, live], "", "algorithm = \"round_robin\""),
    );
    let addr = ballast.addr("db");
    for i in 0..6 {
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut greeting = [0u8; 11];
        tokio::time::timeout(WAIT, client.read_exact(&mut greeting))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&greeting, b"220 ready\r\n", "connection {i}");
        let hello = format!("HELO {i:02}\r\n");
        client.write_all(hello.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(WAIT, client.read_to_end(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            answer,
            format!("250 {hello}").into_bytes(),
            "connection {i}"
        );
    }
    assert_tried_and_refused(&ballast, dead).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_transfer_arrives_whole_and_in_order() {
    // 16 MiB each way: the relay starts copying and moves to splice(2) once reads fill its
    // buffer; the bytes must not notice.
    let target = TcpEcho::spawn().await;
    let ballast = BallastProcess::start(bin(), &tcp_config(&[target.addr], "", ""));
    let payload: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    let back = tokio::time::timeout(
        Duration::from_secs(60),
        round_trip(ballast.addr("db"), &payload),
    )
    .await
    .unwrap();
    assert_eq!(back.len(), payload.len());
    assert!(back == payload, "the bulk transfer came back altered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_adds_and_removes_l4_listeners() {
    let target = TcpEcho::spawn().await;
    let config = tcp_config(&[target.addr], "", "");
    let ballast = BallastProcess::start(bin(), &config);
    let first = ballast.addr("db");
    // A second listener comes with a reload, then goes with the next; the first keeps serving.
    let added = format!(
        "{config}\n[listeners.more]\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ndefault_action = {{ forward = \"echo\" }}\n"
    );
    ballast.rewrite_config(&added);
    ballast.signal("HUP");
    ballast.wait_for_log("configuration reloaded", WAIT);
    assert_eq!(round_trip(first, b"still").await, b"still");
    let admin = Admin::new(ballast.admin_addr());
    let listeners = admin.get("/api/v1/listeners").await;
    let more: std::net::SocketAddr = listeners.json["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "more")
        .and_then(|l| l["address"].as_str())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(round_trip(more, b"new").await, b"new");
    let removed = added.replace("[listeners.more]", "[listeners.more-gone]").replace(
        "[listeners.more-gone]\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ndefault_action = { forward = \"echo\" }\n",
        "",
    );
    ballast.rewrite_config(&removed);
    ballast.signal("HUP");
    let deadline = tokio::time::Instant::now() + WAIT;
    while TcpStream::connect(more).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the removed listener still accepts"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(round_trip(first, b"kept").await, b"kept");
}
