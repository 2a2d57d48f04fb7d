//! Weighted forwarding to several target groups (canary, blue-green) and target group
//! stickiness, through real sockets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use ballast_runtime::Runtime;
use ballast_testkit::client::{get, H1};
use ballast_testkit::{echo_instance, BallastProcess, EchoProcess};
use bytes::Bytes;
use http::{header, Request};
use http_body_util::Full;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn config(blue: SocketAddr, green: SocketAddr, forward: &str) -> String {
    format!(
        "[server]\nworkers = 2\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = {forward} }}\n[target_groups.blue]\ntargets = [\"{blue}\"]\n[target_groups.green]\ntargets = [\"{green}\"]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_gets_its_weight_of_the_traffic() {
    let blue = EchoProcess::start(bin(), 0, "blue");
    let green = EchoProcess::start(bin(), 0, "green");
    let lb = BallastProcess::start(
        bin(),
        &config(
            blue.addr,
            green.addr,
            "{ groups = [{ name = \"blue\", weight = 90 }, { name = \"green\", weight = 10 }] }",
        ),
    );
    let addr = lb.addr("web");
    let mut client = H1::connect(addr).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    let total = 3000;
    for _ in 0..total {
        let response = client.get(addr, "/").await;
        assert_eq!(response.status(), 200);
        *counts.entry(echo_instance(response.body())).or_default() += 1;
    }
    let green_share = counts.get("green").copied().unwrap_or(0) as f64 / total as f64;
    // 10 % ± 2.5 points: the draw is random per request (binomial sd ≈ 0.55 point here).
    assert!(
        (green_share - 0.10).abs() < 0.025,
        "green got {green_share:.3}: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_stickiness_keeps_a_client_on_its_version() {
    let blue = EchoProcess::start(bin(), 0, "blue");
    let green = EchoProcess::start(bin(), 0, "green");
    let lb = BallastProcess::start(
        bin(),
        &config(
            blue.addr,
            green.addr,
            "{ groups = [{ name = \"blue\", weight = 50 }, { name = \"green\", weight = 50 }], stickiness = \"1h\" }",
        ),
    );
    let addr = lb.addr("web");
    let first = get(addr, "/").await;
    let cookie = first
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("BALLASTTG="))
        .expect("a group cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let home = echo_instance(first.body());
    let mut client = H1::connect(addr).await;
    for _ in 0..50 {
        let req = Request::get("/")
            .header("host", addr.to_string())
            .header(header::COOKIE, &cookie)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = client.send(req).await.unwrap();
        assert_eq!(
            echo_instance(response.body()),
            home,
            "a stuck client changed version"
        );
    }
}

/// Shifting the weights (what a config reload does) moves new traffic at once and fails no
/// request on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_weights_shifts_traffic_without_a_failed_request() {
    let blue = EchoProcess::start(bin(), 0, "blue");
    let green = EchoProcess::start(bin(), 0, "green");
    let weights = |b: u32, g: u32| {
        ballast_config::parse(&config(
            blue.addr,
            green.addr,
            &format!("{{ groups = [{{ name = \"blue\", weight = {b} }}, {{ name = \"green\", weight = {g} }}] }}"),
        ))
        .unwrap()
    };
    let runtime = Runtime::start(weights(100, 0)).unwrap();
    let lb = runtime.listeners()[0].1;
    let mut client = H1::connect(lb).await;
    let mut seen = Vec::new();
    for step in 0..300 {
        if step == 100 {
            runtime.apply(weights(0, 100)).unwrap();
        }
        let response = client.get(lb, "/").await;
        assert_eq!(response.status(), 200, "request {step} failed");
        seen.push(echo_instance(response.body()));
    }
    assert!(seen[..100].iter().all(|s| s == "blue"));
    assert!(seen[100..].iter().all(|s| s == "green"));
    tokio::task::spawn_blocking(move || runtime.shutdown())
        .await
        .unwrap();
}
