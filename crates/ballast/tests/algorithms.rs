//! Balancing algorithms end to end: real `ballast echo` processes, one of them slow, behind
//! the real binary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ballast_testkit::client::get;
use ballast_testkit::{echo_instance, toml_targets, BallastProcess, EchoProcess};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn config(targets: &str, group: &str) -> String {
    format!(
        "[server]\nworkers = 1\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\n[target_groups.app]\ntargets = [{targets}]\n{group}\n"
    )
}

/// A fast echo and a slow one (`--delay`), as real processes.
fn fast_and_slow() -> (EchoProcess, EchoProcess) {
    let fast = EchoProcess::start(bin(), 0, "fast");
    let slow = EchoProcess::start_with(bin(), 0, "slow", &["--delay", "150ms"]);
    (fast, slow)
}

/// `total` GETs from `concurrency` clients, each sending its next request as soon as its
/// last one is answered (a closed loop); answers counted per echo instance.
async fn load(lb: SocketAddr, total: usize, concurrency: usize) -> HashMap<String, usize> {
    let clients: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..total / concurrency {
                    let response = get(lb, "/").await;
                    assert_eq!(response.status(), 200);
                    seen.push(echo_instance(response.body()));
                }
                seen
            })
        })
        .collect();
    let mut counts = HashMap::new();
    for client in clients {
        for name in client.await.unwrap() {
            *counts.entry(name).or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn least_outstanding_requests_moves_traffic_away_from_a_slow_target() {
    let (fast, slow) = fast_and_slow();
    let lb = BallastProcess::start(
        bin(),
        &config(
            &toml_targets(&[fast.addr, slow.addr]),
            "algorithm = \"least_outstanding_requests\"",
        ),
    );
    // Eight clients: the slow target keeps its requests in flight, the fast one frees up.
    let counts = load(lb.addr("web"), 160, 8).await;
    let slow_share = counts.get("slow").copied().unwrap_or(0) as f64 / 160.0;
    assert!(
        slow_share < 0.25,
        "slow got {slow_share:.2} of requests: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_response_time_learns_which_target_is_slow() {
    let (fast, slow) = fast_and_slow();
    let lb = BallastProcess::start(
        bin(),
        &config(
            &toml_targets(&[fast.addr, slow.addr]),
            "algorithm = \"least_response_time\"",
        ),
    );
    // One at a time: nothing is ever in flight at pick time, only latency tells them apart.
    let counts = load(lb.addr("web"), 60, 1).await;
    let slow_hits = counts.get("slow").copied().unwrap_or(0);
    assert!(slow_hits <= 6, "slow got {slow_hits} of 60: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_round_robin_is_exact() {
    let a = EchoProcess::start(bin(), 0, "a");
    let b = EchoProcess::start(bin(), 0, "b");
    let lb = BallastProcess::start(
        bin(),
        &config(
            &format!("{{ address = \"{}\", weight = 3 }}, \"{}\"", a.addr, b.addr),
            "",
        ),
    );
    let counts = load(lb.addr("web"), 40, 1).await;
    assert_eq!((counts["a"], counts["b"]), (30, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_keeps_each_user_on_one_target() {
    let echoes: Vec<_> = (0..3)
        .map(|i| EchoProcess::start(bin(), 0, &format!("e{i}")))
        .collect();
    let addrs: Vec<_> = echoes.iter().map(|e| e.addr).collect();
    let lb = BallastProcess::start(
        bin(),
        &config(
            &toml_targets(&addrs),
            "algorithm = \"consistent_hash\"\nhash_key = { header = \"X-User\" }",
        ),
    );
    let addr = lb.addr("web");
    let mut client = ballast_testkit::client::H1::connect(addr).await;
    let mut placed: HashMap<String, String> = HashMap::new();
    for round in 0..5 {
        for user in 0..30 {
            let req = Request::get("/")
                .header("host", addr.to_string())
                .header("x-user", format!("user-{user}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let response = client.send(req).await.unwrap();
            let got = echo_instance(response.body());
            let first = placed.entry(format!("user-{user}")).or_insert(got.clone());
            assert_eq!(*first, got, "user-{user} moved in round {round}");
        }
    }
    let used: std::collections::HashSet<_> = placed.values().collect();
    assert_eq!(used.len(), 3, "30 users spread over all three targets");
}

/// With `cross_zone = false`, a node in zone a sends to zone a while it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_affinity_keeps_traffic_in_the_node_s_zone() {
    let a = EchoProcess::start(bin(), 0, "a");
    let b = EchoProcess::start(bin(), 0, "b");
    let text = config(
        &format!(
            "{{ address = \"{}\", zone = \"zone-a\" }}, {{ address = \"{}\", zone = \"zone-b\" }}",
            a.addr, b.addr
        ),
        "cross_zone = false",
    )
    .replace("[server]\n", "[server]\nzone = \"zone-a\"\n");
    let lb = BallastProcess::start(bin(), &text);
    let counts = load(lb.addr("web"), 20, 1).await;
    assert_eq!(counts.get("a"), Some(&20), "{counts:?}");
    drop(a);
    // Zone a has nothing left: refused connects are retried, then ejected; zone b serves.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let counts = load(lb.addr("web"), 20, 1).await;
    assert_eq!(counts.get("b"), Some(&20), "{counts:?}");
}

/// ALB's anomaly mitigation: one target failing half its requests while its peers do not
/// loses weight within one 5 s evaluation, though it passes no health check worse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_random_mitigates_a_target_whose_errors_stand_out() {
    let good: Vec<_> = (0..3)
        .map(|i| EchoProcess::start(bin(), 0, &format!("good{i}")))
        .collect();
    let bad = EchoProcess::start_with(bin(), 0, "bad", &["--fail-rate", "0.6"]);
    let mut addrs: Vec<_> = good.iter().map(|e| e.addr).collect();
    addrs.push(bad.addr);
    let lb = BallastProcess::start(
        bin(),
        &config(
            &toml_targets(&addrs),
            "algorithm = \"weighted_random\"\nanomaly_mitigation = true\noutlier_detection = { enabled = false }",
        ),
    );
    let addr = lb.addr("web");
    // Only a guard against a hang: the first 5 s evaluation with enough traffic decides.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while lb
        .events_with("target anomalous: error rate stands out from its peers, weight lowered")
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline, "never mitigated");
        for _ in 0..20 {
            get(addr, "/").await;
        }
    }
    let event = lb.wait_for_log(
        "target anomalous: error rate stands out from its peers, weight lowered",
        Duration::from_secs(1),
    );
    assert_eq!(event["target"], bad.addr.to_string());
    let mut bad_answers = 0;
    for _ in 0..400 {
        let response = get(addr, "/").await;
        let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        bad_answers += usize::from(json["instance"] == "bad");
    }
    // A fair share would be 100 of 400; at half its weight it gets about 57.
    assert!(
        bad_answers < 85,
        "the anomalous target still got {bad_answers} of 400"
    );
}
