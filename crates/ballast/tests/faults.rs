//! Faults and resources (issue 11): a drain refuses new clients at once, HTTP/2 clients that
//! ignore GOAWAY or flood control frames are closed, a client that stops reading releases
//! its target, Ballast's own lack of file descriptors is its own fault, and no client can
//! make Ballast write a log line per request.

use std::path::Path;
use std::time::{Duration, Instant};

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::{raw, read_until_closed};
use ballast_testkit::h2frame::{frame, frames, GOAWAY, PING, PREFACE, SETTINGS};
use ballast_testkit::{wait_until, web_app_config, Backend, BallastProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// Only a guard against a hang.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_refuses_new_connections_at_once_and_finishes_what_runs() {
    let backend = Backend::builder("a").held().spawn().await;
    let mut lb = BallastProcess::start(
        bin(),
        &web_app_config(&[backend.addr], "drain_timeout = \"30s\"", "", ""),
    );
    let addr = lb.addr("web");
    let slow =
        tokio::spawn(
            async move { raw(addr, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", WAIT).await },
        );
    wait_until("the request to reach its target", WAIT, || {
        backend.recorded().len() == 1
    })
    .await;
    lb.signal("TERM");
    // New clients are refused while the request in flight still runs.
    let refused = Instant::now() + WAIT;
    loop {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            _ => assert!(
                Instant::now() < refused,
                "new connections still accepted during the drain"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!slow.is_finished(), "the request in flight was not cut");
    backend.release();
    let reply = slow.await.unwrap();
    assert_eq!(reply.status(), Some(200), "{}", reply.text());
    assert!(
        reply.text().contains("Connection: close"),
        "{}",
        reply.text()
    );
    assert!(lb.wait_exit(WAIT).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_that_never_answer_are_closed_after_the_idle_timeout() {
    let backend = Backend::spawn("a").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[backend.addr], "", "idle_timeout = \"1s\"", ""),
    );
    // Connections that say hello and then nothing: no SETTINGS ack, no PING ack, no close.
    let mut silent = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(lb.addr("web")).await.unwrap();
        stream.write_all(PREFACE).await.unwrap();
        stream.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
        silent.push(stream);
    }
    for mut stream in silent {
        // Reading does not answer anything: the client stays silent until Ballast closes.
        let reply = read_until_closed(&mut stream, WAIT).await;
        assert!(reply.closed, "a silent HTTP/2 client was kept open");
        let goaway = frames(&reply.bytes).iter().any(|f| f.kind == GOAWAY);
        assert!(goaway, "closed without GOAWAY");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_and_settings_floods_end_in_enhance_your_calm() {
    let backend = Backend::spawn("a").await;
    let lb = BallastProcess::start(bin(), &web_app_config(&[backend.addr], "", "", ""));
    for kind in [PING, SETTINGS] {
        let mut stream = TcpStream::connect(lb.addr("web")).await.unwrap();
        let mut flood = PREFACE.to_vec();
        flood.extend(frame(SETTINGS, 0, 0, &[]));
        for _ in 0..1000 {
            let payload: &[u8] = if kind == PING { &[0; 8] } else { &[] };
            flood.extend(frame(kind, 0, 0, payload));
        }
        // The server may close before reading it all.
        let _ = stream.write_all(&flood).await;
        let reply = read_until_closed(&mut stream, WAIT).await;
        assert!(reply.closed, "a flooding client was kept open");
        // ENHANCE_YOUR_CALM is error code 0xb.
        let calm = frames(&reply.bytes)
            .iter()
            .any(|f| f.kind == GOAWAY && f.error_code() == Some(0xb));
        assert!(calm, "no GOAWAY ENHANCE_YOUR_CALM for frame type {kind}");
    }
    // A normal client is served all along.
    let mut h2 = ballast_testkit::client::H2::connect(lb.addr("web")).await;
    assert_eq!(h2.get(lb.addr("web"), "/").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_and_its_target_released() {
    let backend = Backend::spawn("a").await;
    let lb = BallastProcess::start(
        bin(),
        &format!(
            "{}\n[admin]\nbind = \"127.0.0.1:0\"\n",
            web_app_config(&[backend.addr], "", "idle_timeout = \"1s\"", "")
        ),
    );
    let admin = AdminClient::new(lb.admin_addr());
    const TOTAL: u64 = 512 * 1024 * 1024;
    let mut stream = TcpStream::connect(lb.addr("web")).await.unwrap();
    stream
        .write_all(format!("GET /download?bytes={TOTAL} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));
    // The client reads nothing more. The exchange ends (it is counted when it does) although
    // the body is not through, and the target connection goes with it.
    let sample = "ballast_listener_responses_total{listener=\"web\",code=\"200\"}";
    let deadline = Instant::now() + WAIT;
    while admin.metric(sample).await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "a client that stopped reading pins its exchange"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut received = n as u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received += n as u64,
            Err(_) => panic!("the cut connection was not closed"),
        }
    }
    assert!(received < TOTAL, "the whole body arrived: nothing was cut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_is_ballasts_fault_not_the_targets() {
    let backend = Backend::spawn("a").await;
    // 64 descriptors: the data plane may hold 32 sockets, the rest is the reserve.
    let lb = BallastProcess::start_with_fd_limit(
        bin(),
        &format!(
            "{}\n[admin]\nbind = \"127.0.0.1:0\"\n",
            web_app_config(
                &[backend.addr],
                // One worker: with several, a client may wait in the queue of a worker that
                // is not accepting while another holds the last socket.
                "workers = 1",
                // Idle clients must not free their sockets by timing out mid-test.
                "request_header_timeout = \"1h\"",
                "health_check = { protocol = \"tcp\", interval = \"1s\" }\noutlier_detection = { consecutive_failures = 2 }"
            )
        ),
        64,
    );
    let admin = AdminClient::new(lb.admin_addr());
    let healthy = || async {
        let targets = admin.get("/api/v1/target-groups/app/targets").await.json;
        targets["targets"][0]["state"] == "healthy"
    };
    let deadline = Instant::now() + WAIT;
    while !healthy().await {
        assert!(Instant::now() < deadline, "the target never became healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let active = "ballast_listener_connections_active{listener=\"web\"}";
    // 31 idle clients take 31 of the 32 sockets.
    let mut idle = Vec::new();
    for _ in 0..31 {
        idle.push(TcpStream::connect(lb.addr("web")).await.unwrap());
    }
    let deadline = Instant::now() + WAIT;
    while admin.metric(active).await < 31.0 {
        assert!(
            Instant::now() < deadline,
            "the idle clients were not accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The next client takes the last one: no socket is left to reach the target.
    for _ in 0..5 {
        let reply = raw(
            lb.addr("web"),
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            WAIT,
        )
        .await;
        assert_eq!(reply.status(), Some(503), "{}", reply.text());
    }
    assert_eq!(
        admin
            .metric("ballast_listener_errors_total{listener=\"web\",code=\"503\"}")
            .await,
        5.0
    );
    // The admin API answers from the reserve, and the target is neither blamed nor ejected.
    let health = admin.get("/healthz").await;
    assert_eq!(health.status, 200);
    let targets = admin.get("/api/v1/target-groups/app/targets").await.json;
    let target = &targets["targets"][0];
    assert_eq!(target["state"], "healthy", "{targets}");
    assert_eq!(target["ejected"], false, "{targets}");
    assert_eq!(backend.hits(), 0);
    // Once clients go, Ballast serves again.
    drop(idle);
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = raw(
            lb.addr("web"),
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            WAIT,
        )
        .await;
        if reply.status() == Some(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never served again: {}",
            reply.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warnings = lb
        .events()
        .into_iter()
        .filter(|e| e["level"] == "WARN")
        .count();
    assert!(warnings <= 10, "{warnings} warnings: the log is flooded");
    // The operator is told whose fault it was: Ballast's, by its own reason code.
    let failed: Vec<_> = lb
        .events()
        .into_iter()
        .filter(|e| e["status"] == 503)
        .collect();
    assert!(!failed.is_empty(), "no failure was logged");
    for event in &failed {
        assert_eq!(event["reason"], "Ballast.ResourceExhausted", "{event}");
        assert!(event.get("target").is_none(), "a target was named: {event}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_requests_keeps_the_log_bounded_and_counts_them_all() {
    let backend = Backend::spawn("a").await;
    let lb = BallastProcess::start(
        bin(),
        &format!(
            "{}\n[admin]\nbind = \"127.0.0.1:0\"\n",
            web_app_config(&[backend.addr], "", "", "")
        ),
    );
    let admin = AdminClient::new(lb.admin_addr());
    let started = Instant::now();
    const FLOOD: usize = 400;
    for _ in 0..FLOOD {
        let reply = raw(lb.addr("web"), b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", WAIT).await;
        assert_eq!(reply.status(), Some(400));
    }
    let errors = "ballast_listener_errors_total{listener=\"web\",code=\"400\"}";
    let deadline = Instant::now() + WAIT;
    while admin.metric(errors).await < FLOOD as f64 {
        assert!(Instant::now() < deadline, "not every refusal was counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = lb.events_with("request rejected");
    // At most 10 lines a second, whatever the flood; the first line of each second says
    // how many were held back.
    let seconds = started.elapsed().as_secs() + 1;
    assert!(
        lines.len() as u64 <= 10 * seconds,
        "{} lines for {FLOOD} refusals in {seconds} s",
        lines.len()
    );
    assert!(
        lines.len() < FLOOD / 4,
        "{} lines for {FLOOD} refusals",
        lines.len()
    );
    // What was held back is not lost: the next line written says how many. One more bad
    // request now and then until a line carries the count.
    let mut sent = FLOOD as u64;
    let deadline = Instant::now() + WAIT;
    loop {
        let lines = lb.events_with("request rejected");
        let held_back: u64 = lines.iter().filter_map(|e| e["suppressed"].as_u64()).sum();
        if held_back > 0 {
            assert!(
                held_back + lines.len() as u64 <= sent,
                "{held_back} held back and {} written for {sent} refusals",
                lines.len()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no line said how many were held back"
        );
        let reply = raw(lb.addr("web"), b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", WAIT).await;
        assert_eq!(reply.status(), Some(400));
        sent += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
