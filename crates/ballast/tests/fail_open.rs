//! When no target of a group passes its health checks, ALB sends to all of them anyway
//! (fail open); a group may choose 503 instead.

use std::path::Path;
use std::time::Duration;

use ballast_testkit::client::get;
use ballast_testkit::{web_app_config, Backend, BallastProcess, RawBackend, RawMode};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

const WAIT: Duration = Duration::from_secs(15);

/// Every target answers its health check with 500 but serves real traffic.
const FAILING_CHECK: &str = "health_check = { path = \"/health?status=500\", interval = \"200ms\", timeout = \"150ms\", healthy_threshold = 2, unhealthy_threshold = 2 }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_targets_unhealthy_sends_traffic_to_all_of_them() {
    let a = Backend::spawn("a").await;
    let b = Backend::spawn("b").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[a.addr, b.addr], "workers = 1", "", FAILING_CHECK),
    );
    lb.wait_for_health(a.addr, "unhealthy", WAIT);
    lb.wait_for_health(b.addr, "unhealthy", WAIT);
    for _ in 0..20 {
        assert_eq!(get(lb.addr("web"), "/").await.status(), 200);
    }
    // Round robin over every registered target (health checks go to /health).
    let traffic = |b: &Backend| b.recorded().iter().filter(|r| r.path == "/").count();
    assert_eq!((traffic(&a), traffic(&b)), (10, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_does_not_fail_open_answers_503() {
    let a = Backend::spawn("a").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &[a.addr],
            "workers = 1",
            "",
            &format!("{FAILING_CHECK}\nfail_open = false"),
        ),
    );
    let addr = lb.addr("web");
    lb.wait_for_health(a.addr, "unhealthy", WAIT);
    let response = get(addr, "/").await;
    assert_eq!(response.status(), 503);
    let failed = lb.wait_for_log("request failed", Duration::from_secs(5));
    assert_eq!(failed["reason"], "Group.NoHealthyTarget");
}

/// Fail-open is for a group with no healthy target only: one healthy target takes
/// everything while the other is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_healthy_target_takes_all_traffic() {
    let good = Backend::spawn("good").await;
    let broken = RawBackend::spawn(RawMode::Garbage).await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &[good.addr, broken.addr],
            "workers = 1",
            "",
            "health_check = { path = \"/health\", interval = \"200ms\", timeout = \"150ms\", healthy_threshold = 2, unhealthy_threshold = 2 }",
        ),
    );
    lb.wait_for_health(good.addr, "healthy", WAIT);
    lb.wait_for_health(broken.addr, "unhealthy", WAIT);
    let checks = broken.accepted();
    for _ in 0..20 {
        assert_eq!(get(lb.addr("web"), "/").await.status(), 200);
    }
    assert_eq!(good.recorded().iter().filter(|r| r.path == "/").count(), 20);
    // Only health checks reached the broken target (at most a few more during the loop).
    assert!(broken.accepted() - checks <= 3);
}
