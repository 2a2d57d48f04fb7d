//! Slow start end to end: a target registered into a serving group ramps up instead of
//! taking its full share at once (runtime in process, real backends).

use std::net::SocketAddr;

use ballast_runtime::Runtime;
use ballast_testkit::client::get;
use ballast_testkit::{web_app_config, Backend};

async fn new_target_share(group: &str) -> f64 {
    let a = Backend::spawn("a").await;
    let config = web_app_config(&[a.addr], "workers = 1", "", group);
    let runtime = Runtime::start(ballast_config::parse(&config).unwrap()).unwrap();
    let lb: SocketAddr = runtime.listeners()[0].1;
    for _ in 0..5 {
        assert_eq!(get(lb, "/").await.status(), 200);
    }
    let b = Backend::spawn("b").await;
    runtime.register_target("app", b.addr).unwrap();
    for _ in 0..100 {
        assert_eq!(get(lb, "/").await.status(), 200);
    }
    let share = b.hits() as f64 / 100.0;
    tokio::task::spawn_blocking(move || runtime.shutdown())
        .await
        .unwrap();
    share
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_target_ramps_up_with_slow_start() {
    for algorithm in ["round_robin", "least_outstanding_requests"] {
        let ramped = new_target_share(&format!(
            "algorithm = \"{algorithm}\"\nslow_start = \"15m\""
        ))
        .await;
        // Seconds into a 15 min ramp (the longest, so even a very slow machine is early
        // in it): about 1 %, far from half.
        assert!(
            ramped < 0.15,
            "{algorithm}: the new target took {ramped:.2}"
        );
    }
    let full = new_target_share("").await;
    assert_eq!(full, 0.5, "without slow start it takes its share at once");
}
