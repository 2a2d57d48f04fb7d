//! Which failed requests go to another target: refused connects always, bodiless idempotent
//! requests whose target closed the connection when the group allows it, a sent POST never.

use std::path::Path;

use ballast_testkit::client::{get, post};
use ballast_testkit::{closed_port, web_app_config, Backend, BallastProcess, RawBackend, RawMode};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// No health check and no passive ejection, so the failing target keeps its turn.
const KEEP_FAILING_TARGET: &str = "outlier_detection = { enabled = false }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_hit_a_refused_connection_are_retried_on_another_target() {
    let good = Backend::spawn("good").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &[closed_port(), good.addr],
            "workers = 1",
            "",
            KEEP_FAILING_TARGET,
        ),
    );
    let addr = lb.addr("web");
    for _ in 0..40 {
        assert_eq!(get(addr, "/").await.status(), 200);
    }
    // The target never saw the request, so even a POST with its body goes elsewhere whole.
    for _ in 0..4 {
        assert_eq!(post(addr, "/orders", b"{\"qty\":1}").await.status(), 200);
    }
    assert_eq!(good.hits(), 44);
    assert!(good
        .recorded()
        .iter()
        .filter(|r| r.method == "POST")
        .all(|r| r.body_bytes == 9));
    assert!(lb.events_with("request failed").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_target_closed_the_connection_is_not_retried_but_a_get_is() {
    let closing = RawBackend::spawn(RawMode::CloseAfterRequest).await;
    let good = Backend::spawn("good").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &[closing.addr, good.addr],
            "workers = 1",
            "",
            KEEP_FAILING_TARGET,
        ),
    );
    let addr = lb.addr("web");

    // Round robin: the first request of each pair goes to the closing target.
    let response = post(addr, "/orders", b"{\"qty\":1}").await;
    assert_eq!(response.status(), 502);
    assert_eq!(closing.accepted(), 1);
    assert_eq!(
        good.hits(),
        0,
        "a POST whose body was sent must not be sent again"
    );
    let failed = lb.wait_for_log("request failed", std::time::Duration::from_secs(5));
    assert_eq!(failed["reason"], "Target.ConnectionClosed");
    assert_eq!(post(addr, "/orders", b"{}").await.status(), 200);

    let response = get(addr, "/").await;
    assert_eq!(response.status(), 200, "an idempotent GET is retried");
    assert_eq!(closing.accepted(), 2);
    assert_eq!(good.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_can_refuse_to_retry_idempotent_requests() {
    let closing = RawBackend::spawn(RawMode::CloseAfterRequest).await;
    let good = Backend::spawn("good").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &[closing.addr, good.addr],
            "workers = 1",
            "",
            &format!("{KEEP_FAILING_TARGET}\nretry = {{ idempotent = false }}"),
        ),
    );
    let addr = lb.addr("web");
    assert_eq!(get(addr, "/").await.status(), 502);
    assert_eq!(good.hits(), 0);
}

/// Retries that the target may have seen are bounded: with every target closing the
/// connection, far fewer than one retry per request is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_bounded_by_the_budget() {
    let a = RawBackend::spawn(RawMode::CloseAfterRequest).await;
    let b = RawBackend::spawn(RawMode::CloseAfterRequest).await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &[a.addr, b.addr],
            "workers = 1",
            "",
            &format!(
                "{KEEP_FAILING_TARGET}\nretry = {{ budget_percent = 10, min_per_second = 1 }}"
            ),
        ),
    );
    let addr = lb.addr("web");
    let requests = 100;
    for _ in 0..requests {
        assert_eq!(get(addr, "/").await.status(), 502);
    }
    let attempts = a.accepted() + b.accepted();
    let retries = attempts - requests;
    // 10 % of 100 requests, plus one per second of the test and the starting allowance.
    assert!(
        retries <= 10 + 1 + 5,
        "{retries} retries for {requests} requests"
    );
    assert!(retries >= 1, "the budget allows some retries");
}
