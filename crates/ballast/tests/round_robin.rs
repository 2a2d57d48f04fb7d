//! Round robin spreads requests exactly evenly, across workers, connections and protocols.

use std::path::Path;

use ballast_testkit::client::{get, H1, H2};
use ballast_testkit::{toml_targets, web_app_config, Backend, BallastProcess};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_requests_exactly_evenly() {
    let backends = [
        Backend::spawn("a").await,
        Backend::spawn("b").await,
        Backend::spawn("c").await,
    ];
    let addrs: Vec<_> = backends.iter().map(|b| b.addr).collect();
    let lb = BallastProcess::start(
        bin(),
        &format!(
            r#"
[server]
workers = 2

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}

[target_groups.app]
algorithm = "round_robin"
targets = [{}]
"#,
            toml_targets(&addrs)
        ),
    );
    let addr = lb.addr("web");

    // 300 requests: one keep-alive HTTP/1.1 connection, one HTTP/2 connection, and fresh
    // connections (which the kernel spreads over both workers).
    let mut h1 = H1::connect(addr).await;
    for _ in 0..120 {
        assert_eq!(h1.get(addr, "/").await.status(), 200);
    }
    let mut h2 = H2::connect(addr).await;
    for _ in 0..120 {
        assert_eq!(h2.get(addr, "/").await.status(), 200);
    }
    for _ in 0..60 {
        assert_eq!(get(addr, "/").await.status(), 200);
    }

    let hits: Vec<usize> = backends.iter().map(Backend::hits).collect();
    assert_eq!(hits, vec![100, 100, 100], "round robin must be exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_to_targets_are_reused() {
    let backend = Backend::spawn("a").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[backend.addr], "workers = 1", "", ""),
    );
    let addr = lb.addr("web");
    for _ in 0..50 {
        assert_eq!(get(addr, "/").await.status(), 200);
    }
    assert_eq!(backend.hits(), 50);
    assert_eq!(
        backend.connections(),
        1,
        "sequential requests should share one pooled connection"
    );
}
