//! Registering and deregistering targets at runtime, through the runtime's API (the one
//! config reload and the admin API call): draining finishes in-flight requests, sends no new
//! ones, and closes what is left when the deregistration delay is over.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ballast_runtime::{HealthReason, HealthState, Runtime, TargetHealth};
use ballast_testkit::client::{get, post};
use ballast_testkit::{wait_until, web_app_config, Backend};

/// Only a guard against a hang: nothing here is asserted to happen fast.
const WAIT: Duration = Duration::from_secs(30);

fn start(targets: &[SocketAddr], group: &str) -> (Runtime, SocketAddr) {
    let config = web_app_config(targets, "workers = 2", "", group);
    let runtime = Runtime::start(ballast_config::parse(&config).unwrap()).unwrap();
    let lb = runtime.listeners()[0].1;
    (runtime, lb)
}

fn health(runtime: &Runtime, address: SocketAddr) -> TargetHealth {
    runtime
        .target_health()
        .into_iter()
        .find(|t| t.address == address)
        .unwrap_or_else(|| panic!("no target {address}"))
}

async fn stop(runtime: Runtime) {
    tokio::task::spawn_blocking(move || runtime.shutdown())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deregistered_target_finishes_its_slow_request_and_gets_no_new_one() {
    // The slow target answers when the test lets it: the request is still running after
    // the deregistration for as long as the test needs, on a machine of any speed. The
    // delay only has to outlast ten local requests.
    let slow = Backend::builder("slow").held().spawn().await;
    let fast = Backend::spawn("fast").await;
    let (runtime, lb) = start(&[slow.addr, fast.addr], "deregistration_delay = \"5s\"");

    // Round robin: the first request goes to the slow target.
    let in_flight = tokio::spawn(async move { get(lb, "/slow").await });
    wait_until("the slow request to reach its target", WAIT, || {
        slow.recorded().len() == 1
    })
    .await;
    // Taken before the call: the delay runs from a moment no earlier than this.
    let deregistered = Instant::now();
    runtime.deregister_target("app", slow.addr).unwrap();
    let state = health(&runtime, slow.addr);
    assert_eq!(state.state, HealthState::Draining);
    assert_eq!(state.reason, HealthReason::DeregistrationInProgress);
    assert_eq!(state.in_flight, 1);

    for _ in 0..10 {
        assert_eq!(get(lb, "/").await.status(), 200);
    }
    assert_eq!(
        slow.recorded().len(),
        1,
        "a draining target got a new request"
    );
    assert_eq!(fast.hits(), 10);

    // Still draining, not cut: now the slow target answers, and that answer (not a retry
    // elsewhere) reaches the client.
    assert_eq!(health(&runtime, slow.addr).state, HealthState::Draining);
    slow.release();
    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), 200, "the in-flight request completes");
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["name"], "slow", "answered by the draining target");
    assert_eq!(fast.hits(), 10, "and not retried elsewhere");

    // When the delay is over the target is gone, and not before.
    wait_until("the target to be gone", WAIT, || {
        runtime
            .target_health()
            .iter()
            .all(|t| t.address != slow.addr || t.state == HealthState::Unused)
    })
    .await;
    assert!(deregistered.elapsed() >= Duration::from_secs(5));
    stop(runtime).await;
}

/// ALB answers 502 to a request still in flight when the delay is over. A POST gets that
/// 502; a bodiless GET is retried on another target, like any idempotent request whose
/// target closed the connection before answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_still_running_when_the_delay_ends_is_cut() {
    // Held until the end of the test: only the end of the delay can end these requests.
    let stuck = Backend::builder("stuck").held().spawn().await;
    let fast = Backend::spawn("fast").await;
    let (runtime, lb) = start(&[stuck.addr, fast.addr], "deregistration_delay = \"300ms\"");
    let post = tokio::spawn(async move { post(lb, "/order", b"{}").await });
    wait_until("the POST to reach its target", WAIT, || {
        stuck.recorded().len() == 1
    })
    .await;
    // Round robin: the POST took the stuck target, the GET takes the fast one, the next
    // GET the stuck one again.
    assert_eq!(get(lb, "/").await.status(), 200);
    let get_in_flight = tokio::spawn(async move { get(lb, "/slow-get").await });
    wait_until("the GET to reach the stuck target", WAIT, || {
        stuck.recorded().len() == 2
    })
    .await;
    let started = Instant::now();
    runtime.deregister_target("app", stuck.addr).unwrap();
    // The timeout only guards against a hang.
    let response = tokio::time::timeout(WAIT, post).await.unwrap().unwrap();
    assert_eq!(
        response.status(),
        502,
        "its connection is closed at the end of the delay"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    let response = tokio::time::timeout(WAIT, get_in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the cut GET was retried on the fast target"
    );
    assert_eq!(fast.recorded().last().unwrap().path, "/slow-get");
    assert_eq!(stuck.hits(), 0, "the stuck target never answered");
    stop(runtime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_delay_removes_the_target_at_once() {
    let a = Backend::spawn("a").await;
    let b = Backend::spawn("b").await;
    let (runtime, lb) = start(&[a.addr, b.addr], "deregistration_delay = \"0s\"");
    runtime.deregister_target("app", a.addr).unwrap();
    assert!(runtime
        .target_health()
        .iter()
        .all(|t| t.address != a.addr || t.state == HealthState::Unused));
    for _ in 0..6 {
        assert_eq!(get(lb, "/").await.status(), 200);
    }
    assert_eq!(a.hits(), 0);
    stop(runtime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_target_is_checked_before_it_takes_traffic() {
    let a = Backend::spawn("a").await;
    let (runtime, lb) = start(
        &[a.addr],
        "health_check = { path = \"/health\", interval = \"200ms\", timeout = \"150ms\", healthy_threshold = 2 }",
    );
    wait_until("a healthy", WAIT, || {
        health(&runtime, a.addr).state == HealthState::Healthy
    })
    .await;
    let b = Backend::spawn("b").await;
    runtime.register_target("app", b.addr).unwrap();
    assert_eq!(health(&runtime, b.addr).state, HealthState::Initial);
    loop {
        assert_eq!(get(lb, "/").await.status(), 200);
        if health(&runtime, b.addr).state == HealthState::Healthy {
            break;
        }
        let traffic = b.recorded().iter().filter(|r| r.path == "/").count();
        assert_eq!(traffic, 0, "an initial target got traffic");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..10 {
        assert_eq!(get(lb, "/").await.status(), 200);
    }
    assert!(b.recorded().iter().filter(|r| r.path == "/").count() >= 5);

    // Unknown names are errors that say what exists.
    let error = runtime.register_target("apps", b.addr).unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown target group \"apps\" (known: app)"
    );
    let missing: SocketAddr = "127.0.0.1:1".parse().unwrap();
    assert!(runtime.deregister_target("app", missing).is_err());
    stop(runtime).await;
}

/// A reload that drops a target drains it like a deregistration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_dropped_by_a_reload_drains() {
    let a = Backend::spawn("a").await;
    let b = Backend::spawn("b").await;
    let (runtime, lb) = start(&[a.addr, b.addr], "deregistration_delay = \"60s\"");
    // Same listeners (as configured), one target fewer.
    let next = ballast_config::parse(&web_app_config(
        &[b.addr],
        "workers = 2",
        "",
        "deregistration_delay = \"60s\"",
    ))
    .unwrap();
    runtime.apply(next).unwrap();
    assert_eq!(health(&runtime, a.addr).state, HealthState::Draining);
    for _ in 0..6 {
        assert_eq!(get(lb, "/").await.status(), 200);
    }
    assert_eq!(a.hits(), 0);
    assert_eq!(b.hits(), 6);
    stop(runtime).await;
}

/// Targets added through the API are not in the file: a reload of the file keeps them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_targets_registered_through_the_api() {
    let a = Backend::spawn("a").await;
    let b = Backend::spawn("b").await;
    let (runtime, lb) = start(&[a.addr], "");
    runtime.register_target("app", b.addr).unwrap();
    let same_file = web_app_config(&[a.addr], "workers = 2", "", "");
    runtime
        .apply(ballast_config::parse(&same_file).unwrap())
        .unwrap();
    assert_eq!(health(&runtime, b.addr).state, HealthState::Healthy);
    for _ in 0..4 {
        assert_eq!(get(lb, "/").await.status(), 200);
    }
    assert_eq!((a.hits(), b.hits()), (2, 2));
    stop(runtime).await;
}

/// A reload that moves the listener to another group and deletes the old one: requests in
/// flight on the old group still end when its deregistration delay does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_group_still_closes_its_connections_after_the_delay() {
    let stuck = Backend::builder("stuck")
        .delay(Duration::from_secs(30))
        .spawn()
        .await;
    let fast = Backend::spawn("fast").await;
    let config = |forward: &str, old_group: bool| {
        let mut text = format!(
            "[server]\nworkers = 2\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"{forward}\" }}\n[target_groups.app]\ntargets = [\"{}\"]\n",
            fast.addr
        );
        if old_group {
            text.push_str(&format!(
                "[target_groups.old]\ntargets = [\"{}\"]\nderegistration_delay = \"300ms\"\n",
                stuck.addr
            ));
        }
        ballast_config::parse(&text).unwrap()
    };
    let runtime = Runtime::start(config("old", true)).unwrap();
    let lb = runtime.listeners()[0].1;
    let in_flight = tokio::spawn(async move { post(lb, "/order", b"{}").await });
    wait_until("the POST to reach the old group", WAIT, || {
        stuck.recorded().len() == 1
    })
    .await;
    runtime.apply(config("app", false)).unwrap();
    assert_eq!(get(lb, "/").await.status(), 200);
    assert_eq!(fast.hits(), 1);
    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), 502);
    stop(runtime).await;
}
