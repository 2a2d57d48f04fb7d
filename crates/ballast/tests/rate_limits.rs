//! Request rate limits through the real binary: a listener's limit per client address
//! under a flood from one address while another client keeps being served, and a rule's
//! limit keyed by a header. Over a limit the answer is 429 with `Retry-After`, logged with
//! its reason and counted.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use ballast_testkit::admin::AdminClient as Admin;
use ballast_testkit::{connect_from, toml_targets, wait_until, Backend, BallastProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// One keep-alive request on `stream`: its status and `Retry-After`.
async fn request(
    stream: &mut TcpStream,
    to: SocketAddr,
    path: &str,
    extra: &str,
) -> (u16, Option<String>) {
    let text = format!("GET {path} HTTP/1.1\r\nhost: {to}\r\n{extra}\r\n");
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, stream.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            n,
            1,
            "the connection closed mid-head: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let field = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.trim().to_owned())
    };
    let length: usize = field("content-length").unwrap().parse().unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (head[9..12].parse().unwrap(), field("retry-after"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_is_limited_while_another_is_served() {
    let backend = Backend::spawn("app").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let ballast = BallastProcess::start(
        bin(),
        &format!(
            "[access_log]\npath = \"{}\"\n\n[admin]\nbind = \"127.0.0.1:0\"\n\n[rate_limits.per_client]\nper_second = 20\nburst = 20\n\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\nrate_limit = \"per_client\"\n\n[target_groups.app]\ntargets = [{}]\n",
            log.display(),
            toml_targets(&[backend.addr])
        ),
    );
    let web = ballast.addr("web");
    // The flood: one address, as fast as its connection goes, bounded in count and time.
    let flood = tokio::spawn(async move {
        let mut stream = connect_from(ip("127.0.0.11"), web).await.unwrap();
        let started = Instant::now();
        let (mut ok, mut limited, mut retry) = (0u64, 0u64, None);
        while ok + limited < 20_000 && started.elapsed() < Duration::from_secs(2) {
            match request(&mut stream, web, "/", "").await {
                (200, _) => ok += 1,
                (429, after) => {
                    limited += 1;
                    retry = after;
                }
                (status, _) => panic!("flood got {status}"),
            }
        }
        (ok, limited, retry, started.elapsed())
    });
    // Meanwhile an honest client from another address: every request served.
    let mut honest = connect_from(ip("127.0.0.12"), web).await.unwrap();
    let mut latencies = Vec::new();
    for _ in 0..15 {
        let sent = Instant::now();
        assert_eq!(request(&mut honest, web, "/", "").await.0, 200);
        latencies.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ok, limited, retry, took) = flood.await.unwrap();
    latencies.sort();
    eprintln!(
        "flood: {ok} served, {limited} limited in {took:?}; honest client: p50 {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(limited > 0, "the flood was never limited ({ok} served)");
    assert_eq!(retry.as_deref(), Some("1"));
    // The burst, plus what the rate added meanwhile, plus one for rounding.
    assert!(
        ok as f64 <= 20.0 + 20.0 * took.as_secs_f64() + 1.0,
        "{ok} served in {took:?}"
    );
    let admin = Admin::new(ballast.admin_addr());
    let counted = admin
        .metric("ballast_listener_limit_hits_total{listener=\"web\",limit=\"rate_limit\"}")
        .await;
    assert_eq!(counted, limited as f64);
    let limited_lines = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Client.RateLimited"))
            .count()
    };
    // The log's queue is bounded and may shed lines under a flood; those it writes say why.
    wait_until("the limited requests' log lines", WAIT, || {
        limited_lines() > 0
    })
    .await;
    assert!(limited_lines() as u64 <= limited);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_limits_each_api_key_apart() {
    let backend = Backend::spawn("app").await;
    let ballast = BallastProcess::start(
        bin(),
        &format!(
            "[admin]\nbind = \"127.0.0.1:0\"\n\n[rate_limits.login]\nkey = [\"header:x-api-key\"]\nper_minute = 2\n\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\n\n[[listeners.web.rules]]\npriority = 1\nconditions = {{ path = [\"/login\"] }}\naction = {{ forward = \"app\" }}\nrate_limit = \"login\"\n\n[target_groups.app]\ntargets = [{}]\n",
            toml_targets(&[backend.addr])
        ),
    );
    let web = ballast.addr("web");
    let mut stream = TcpStream::connect(web).await.unwrap();
    let key_a = "x-api-key: a\r\n";
    assert_eq!(request(&mut stream, web, "/login", key_a).await.0, 200);
    assert_eq!(request(&mut stream, web, "/login", key_a).await.0, 200);
    // A minute's worth is spent: the next token comes in 30 seconds. The connection stays
    // open for the client's next request.
    assert_eq!(
        request(&mut stream, web, "/login", key_a).await,
        (429, Some("30".to_owned()))
    );
    assert_eq!(
        request(&mut stream, web, "/login", "x-api-key: b\r\n")
            .await
            .0,
        200
    );
    // Other paths are not under the rule; a request without the key is not counted.
    assert_eq!(request(&mut stream, web, "/other", key_a).await.0, 200);
    for _ in 0..3 {
        assert_eq!(request(&mut stream, web, "/login", "").await.0, 200);
    }
    // The admin API's explain names the limit a request would meet.
    let admin = Admin::new(ballast.admin_addr());
    let x = admin
        .post(
            "/api/v1/explain",
            &serde_json::json!({"listener": "web", "path": "/login"}),
        )
        .await;
    assert_eq!(x.status, 200, "{}", x.text);
    let why = x.json["why"].to_string();
    assert!(
        why.contains("rate limit \\\"login\\\" (the rule's)"),
        "{why}"
    );
}
