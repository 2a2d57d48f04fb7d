//! Edge controls at accept, through the real binary: `allow`, `deny` and `[ip_sets]` on
//! HTTP and TCP listeners, and the per client limits (`client_limits`): connections open at
//! once and new connections per second. Clients are told apart by their loopback source
//! address (127.0.0.0/8), so each test has an honest client that must be served beside the
//! one that must not.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ballast_testkit::admin::AdminClient as Admin;
use ballast_testkit::{
    connect_from, echoes_from, http_status_from, toml_targets, wait_until, Backend, BallastProcess,
    TcpEcho,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(20);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn http_config(backend: std::net::SocketAddr, top: &str, keys: &str) -> String {
    format!(
        "{top}\n[admin]\nbind = \"127.0.0.1:0\"\n\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\n{keys}\n\n[target_groups.app]\ntargets = [{}]\n",
        toml_targets(&[backend])
    )
}

fn tcp_config(target: std::net::SocketAddr, top: &str, keys: &str) -> String {
    format!(
        "{top}\n[admin]\nbind = \"127.0.0.1:0\"\n\n[listeners.db]\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ndefault_action = {{ forward = \"echo\" }}\n{keys}\n\n[target_groups.echo]\nprotocol = \"tcp\"\ntargets = [{}]\n",
        toml_targets(&[target])
    )
}

async fn limit_hits(admin: &Admin, listener: &str, limit: &str) -> f64 {
    admin
        .metric(&format!(
            "ballast_listener_limit_hits_total{{listener=\"{listener}\",limit=\"{limit}\"}}"
        ))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_listener_lets_in_only_what_allow_and_deny_say() {
    let backend = Backend::spawn("app").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let ballast = BallastProcess::start(
        bin(),
        &http_config(
            backend.addr,
            &format!(
                "[access_log]\npath = \"{}\"\n\n[ip_sets.office]\ncidrs = [\"127.0.0.0/29\"]\n\n[ip_sets.blocked]\ncidrs = [\"127.0.0.3\"]",
                log.display()
            ),
            "allow = [\"office\", \"127.0.1.0/24\"]\ndeny = [\"blocked\"]",
        ),
    );
    let web = ballast.addr("web");
    assert_eq!(http_status_from(ip("127.0.0.1"), web).await, Some(200));
    assert_eq!(http_status_from(ip("127.0.1.9"), web).await, Some(200));
    // In the allowed set but denied; outside every allowed block.
    assert_eq!(http_status_from(ip("127.0.0.3"), web).await, None);
    assert_eq!(http_status_from(ip("127.0.0.9"), web).await, None);
    assert_eq!(backend.hits(), 2, "a refused client reaches no target");
    let admin = Admin::new(ballast.admin_addr());
    assert_eq!(limit_hits(&admin, "web", "access_denied").await, 2.0);
    // Each refusal has its access-log line with the reason.
    let denied = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Client.AccessDenied"))
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    wait_until("two refusal lines", WAIT, || denied().len() == 2).await;
    let clients: Vec<String> = denied()
        .iter()
        .map(|l| {
            l["client"]
                .as_str()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        clients.contains(&"127.0.0.3".to_owned()) && clients.contains(&"127.0.0.9".to_owned()),
        "{clients:?}"
    );
    assert_eq!(denied()[0]["action"], "reject");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_listener_resets_denied_clients_and_a_reload_changes_the_lists() {
    let target = TcpEcho::spawn().await;
    let ballast = BallastProcess::start(
        bin(),
        &tcp_config(target.addr, "", "deny = [\"127.0.0.2/32\"]"),
    );
    let db = ballast.addr("db");
    assert!(echoes_from(ip("127.0.0.1"), db).await);
    assert!(!echoes_from(ip("127.0.0.2"), db).await);
    let admin = Admin::new(ballast.admin_addr());
    assert_eq!(limit_hits(&admin, "db", "access_denied").await, 1.0);
    // A reload that keeps the listener swaps its lists for new connections.
    let reloads = ballast.events_with("configuration reloaded").len();
    let text = tcp_config(target.addr, "", "deny = [\"127.0.0.1/32\"]").replace(
        "bind = \"127.0.0.1:0\"\nprotocol",
        &format!("bind = \"{db}\"\nprotocol"),
    );
    ballast.rewrite_config(&text);
    ballast.signal("HUP");
    wait_until("the reload", WAIT, || {
        ballast.events_with("configuration reloaded").len() > reloads
    })
    .await;
    assert!(echoes_from(ip("127.0.0.2"), db).await);
    assert!(!echoes_from(ip("127.0.0.1"), db).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_may_hold_only_its_max_connections() {
    let backend = Backend::spawn("app").await;
    let ballast = BallastProcess::start(
        bin(),
        &http_config(backend.addr, "", "client_limits = { max_connections = 2 }"),
    );
    let web = ballast.addr("web");
    let admin = Admin::new(ballast.admin_addr());
    let greedy = ip("127.0.0.5");
    // Two keep-alive connections that each carried a request, so both are surely counted.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from(greedy, web).await.unwrap();
        stream
            .write_all(format!("GET / HTTP/1.1\r\nhost: {web}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        held.push(stream);
    }
    assert_eq!(
        http_status_from(greedy, web).await,
        None,
        "a third is closed"
    );
    assert_eq!(
        limit_hits(&admin, "web", "client_max_connections").await,
        1.0
    );
    // Another client is served all the while.
    assert_eq!(http_status_from(ip("127.0.0.6"), web).await, Some(200));
    // Once one of the two closes, the client may open another.
    drop(held.pop());
    let mut served = false;
    for _ in 0..200 {
        if http_status_from(greedy, web).await == Some(200) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(served, "the client got its connection back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_opening_too_fast_is_refused_and_others_are_not() {
    let target = TcpEcho::spawn().await;
    let ballast = BallastProcess::start(
        bin(),
        &tcp_config(
            target.addr,
            "",
            "client_limits = { connections_per_second = 1, connection_burst = 3 }",
        ),
    );
    let db = ballast.addr("db");
    let admin = Admin::new(ballast.admin_addr());
    let fast = ip("127.0.0.7");
    // At one connection a second, 100 attempts cannot all pass unless they take over
    // 97 seconds; a refusal must come.
    let started = std::time::Instant::now();
    let mut admitted = 0;
    let mut refused = false;
    for _ in 0..100 {
        if echoes_from(fast, db).await {
            admitted += 1;
        } else {
            refused = true;
            break;
        }
    }
    assert!(refused, "{admitted} connections admitted, none refused");
    // Never more than the burst plus what the rate added meanwhile.
    let allowed = 3 + started.elapsed().as_secs() + 1;
    assert!(
        admitted >= 3 && admitted as u64 <= allowed,
        "{admitted} admitted"
    );
    assert!(limit_hits(&admin, "db", "client_connection_rate").await >= 1.0);
    // Another address has its own bucket.
    for _ in 0..3 {
        assert!(echoes_from(ip("127.0.0.8"), db).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_listener_drops_datagrams_of_denied_clients() {
    let target = ballast_testkit::UdpTagged::spawn("t").await;
    let ballast = BallastProcess::start(
        bin(),
        &format!(
            "[admin]\nbind = \"127.0.0.1:0\"\n\n[listeners.dns]\nbind = \"127.0.0.1:0\"\nprotocol = \"udp\"\ndefault_action = {{ forward = \"dns\" }}\ndeny = [\"127.0.0.2\"]\n\n[target_groups.dns]\nprotocol = \"udp\"\ntargets = [{}]\n",
            toml_targets(&[target.addr])
        ),
    );
    let listener = ballast.addr("dns");
    let admin = Admin::new(ballast.admin_addr());
    let denied = tokio::net::UdpSocket::bind("127.0.0.2:0").await.unwrap();
    denied.send_to(b"hello", listener).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while limit_hits(&admin, "dns", "access_denied").await < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the denied datagram was not counted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        target.datagrams.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the datagram never reached the target"
    );
    let honest = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    honest.send_to(b"hello", listener).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = tokio::time::timeout(WAIT, honest.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"t:hello"[..], listener));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_routes_by_an_ip_set() {
    let backend = Backend::spawn("app").await;
    let ballast = BallastProcess::start(
        bin(),
        &http_config(
            backend.addr,
            "[ip_sets.office]\ncidrs = [\"127.0.0.20/31\"]",
            "\n[[listeners.web.rules]]\npriority = 1\nconditions = { source_ip = [\"office\"] }\naction = { fixed_response = { status = 403, content_type = \"text/plain\", body = \"office only\" } }",
        ),
    );
    let web = ballast.addr("web");
    assert_eq!(http_status_from(ip("127.0.0.21"), web).await, Some(403));
    assert_eq!(http_status_from(ip("127.0.0.22"), web).await, Some(200));
}

/// Sends a `len`-byte POST body from `source` in pieces of `piece` bytes every `every`;
/// returns the status the client got (`None`: none).
async fn post_slowly(
    source: IpAddr,
    to: std::net::SocketAddr,
    len: usize,
    piece: usize,
    every: Duration,
) -> Option<u16> {
    let stream = connect_from(source, to).await.ok()?;
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST /up HTTP/1.1\r\nhost: {to}\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
    );
    wr.write_all(head.as_bytes()).await.ok()?;
    // Bounded: at most `len` bytes, and it stops when the answer comes.
    let sender = tokio::spawn(async move {
        let mut sent = 0;
        while sent < len {
            let n = piece.min(len - sent);
            if wr.write_all(&vec![b'x'; n]).await.is_err() {
                return;
            }
            sent += n;
            tokio::time::sleep(every).await;
        }
    });
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(WAIT, rd.read_to_end(&mut reply)).await;
    sender.abort();
    String::from_utf8_lossy(&reply)
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_post_is_cut_and_a_steady_one_is_not() {
    let backend = Backend::spawn("app").await;
    let ballast = BallastProcess::start(
        bin(),
        &http_config(
            backend.addr,
            "",
            "min_request_body_rate = 1000\nmin_request_body_rate_grace = \"1s\"",
        ),
    );
    let web = ballast.addr("web");
    let admin = Admin::new(ballast.admin_addr());
    // 50 bytes every 100 ms is 500 B/s, half the minimum: cut about 2 s in, long before
    // its 100,000 bytes would be sent.
    let slow = post_slowly(
        ip("127.0.0.31"),
        web,
        100_000,
        50,
        Duration::from_millis(100),
    );
    // 500 bytes every 100 ms is 5,000 B/s: its 3,000 bytes pass, whatever the other does.
    let steady = post_slowly(
        ip("127.0.0.32"),
        web,
        3_000,
        500,
        Duration::from_millis(100),
    );
    let (slow, steady) = tokio::join!(slow, steady);
    assert_eq!(slow, Some(408));
    assert_eq!(steady, Some(200));
    assert_eq!(
        limit_hits(&admin, "web", "min_request_body_rate").await,
        1.0
    );
    let event = ballast.wait_for_log("request rejected", WAIT);
    assert_eq!(event["reason"], "Client.BodyTooSlow");
}
