//! Active health checks end to end: real targets (`ballast echo` processes, tonic's gRPC
//! health server, raw TCP peers, recording backends) behind the real runtime or the real
//! binary.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ballast_runtime::{HealthReason, HealthState, Runtime, TargetHealth};
use ballast_testkit::client::get;
use ballast_testkit::{
    closed_port, echo_instance, toml_targets, wait_until, web_app_config, Backend, BallastProcess,
    EchoProcess, GrpcHealthServer, RawBackend, RawMode,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// Only a guard against a hang: nothing here is asserted to happen fast.
const WAIT: Duration = Duration::from_secs(30);

fn health(runtime: &Runtime, address: SocketAddr) -> TargetHealth {
    runtime
        .target_health()
        .into_iter()
        .find(|t| t.address == address)
        .unwrap_or_else(|| panic!("no target {address}"))
}

/// The scenario: kill a target process, restart it. Runs the runtime in process so
/// the test can read each target's state and request counter exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_target_turns_unhealthy_gets_nothing_and_returns_when_restarted() {
    let mut a = EchoProcess::start(bin(), 0, "a");
    let b = EchoProcess::start(bin(), 0, "b");
    let (interval, timeout, healthy_threshold, unhealthy_threshold) = (
        Duration::from_millis(300),
        Duration::from_millis(200),
        3u32,
        2u32,
    );
    let check = format!(
        "health_check = {{ path = \"/health\", interval = \"{}ms\", timeout = \"{}ms\", healthy_threshold = {healthy_threshold}, unhealthy_threshold = {unhealthy_threshold} }}",
        interval.as_millis(),
        timeout.as_millis()
    );
    let config = web_app_config(&[a.addr, b.addr], "workers = 2", "", &check);
    let runtime = Runtime::start(ballast_config::parse(&config).unwrap()).unwrap();
    let lb = runtime.listeners()[0].1;

    assert_eq!(health(&runtime, a.addr).state, HealthState::Initial);
    assert_eq!(
        health(&runtime, a.addr).reason,
        HealthReason::InitialHealthChecking
    );
    wait_until("both targets healthy", WAIT, || {
        [a.addr, b.addr]
            .iter()
            .all(|t| health(&runtime, *t).state == HealthState::Healthy)
    })
    .await;
    for _ in 0..10 {
        assert_eq!(get(lb, "/").await.status(), 200);
    }
    assert_eq!(
        health(&runtime, a.addr).requests,
        5,
        "round robin over both"
    );

    // Killed: idempotent requests keep succeeding (a refused connect is retried on b)
    // until health checks mark it unhealthy.
    let failed_before = health(&runtime, a.addr).checks_failed;
    a.kill();
    let mut served = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    let unhealthy = loop {
        // State and check counts from one reading: the counts include the deciding check.
        let seen = health(&runtime, a.addr);
        if seen.state == HealthState::Unhealthy {
            break seen;
        }
        let response = get(lb, "/").await;
        assert_eq!(response.status(), 200, "a GET failed while a target died");
        served += 1;
        assert!(
            tokio::time::Instant::now() < deadline,
            "a was never marked unhealthy"
        );
    };
    // The bound, `unhealthy_threshold × interval + timeout`, counted in checks
    // rather than seconds so a busy machine cannot break it: unhealthy at the
    // `unhealthy_threshold`-th failed check after the kill (one more may fail while the
    // state is read; a check in flight at the kill may be one of them).
    let failed = unhealthy.checks_failed - failed_before;
    assert!(
        (1..=u64::from(unhealthy_threshold) + 1).contains(&failed),
        "unhealthy after {failed} failed checks, threshold {unhealthy_threshold}"
    );
    assert_eq!(unhealthy.reason, HealthReason::FailedHealthChecks);
    assert!(served > 0);

    // From then on it receives nothing.
    let before = health(&runtime, a.addr).requests;
    for _ in 0..20 {
        let response = get(lb, "/").await;
        assert_eq!(response.status(), 200);
        assert_eq!(echo_instance(response.body()), "b");
    }
    assert_eq!(health(&runtime, a.addr).requests, before);

    // Restarted: it takes traffic again only after `healthy_threshold` passing checks (none
    // can pass while it is down, so every pass counted from here is one after the restart).
    let passed_before = health(&runtime, a.addr).checks_passed;
    a.restart(bin());
    let deadline = tokio::time::Instant::now() + WAIT;
    let healthy = loop {
        let response = get(lb, "/").await;
        assert_eq!(response.status(), 200);
        let seen = health(&runtime, a.addr);
        if seen.state == HealthState::Healthy {
            break seen;
        }
        // Still not healthy after the answer: the pick was made while it was unhealthy.
        assert_eq!(
            echo_instance(response.body()),
            "b",
            "an unhealthy target got a request"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "a never became healthy again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let passed = healthy.checks_passed - passed_before;
    assert!(
        passed >= u64::from(healthy_threshold),
        "healthy after {passed} passing checks, threshold {healthy_threshold}"
    );
    let before = health(&runtime, a.addr).requests;
    for _ in 0..10 {
        assert_eq!(get(lb, "/").await.status(), 200);
    }
    assert_eq!(health(&runtime, a.addr).requests - before, 5);
    tokio::task::spawn_blocking(move || runtime.shutdown())
        .await
        .unwrap();
}

const FAST: &str =
    "interval = \"200ms\", timeout = \"150ms\", healthy_threshold = 2, unhealthy_threshold = 2";

/// One listener-less group per case, so one binary checks every kind at once.
fn groups_config(groups: &[(&str, SocketAddr, String)]) -> String {
    let mut config = String::from("[server]\nworkers = 1\n");
    for (name, target, check) in groups {
        config.push_str(&format!(
            "[target_groups.{name}]\ntargets = [{}]\nhealth_check = {{ {check}, {FAST} }}\n",
            toml_targets(&[*target])
        ));
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_checks_send_their_path_method_host_and_port_and_match_status_codes() {
    let traffic = Backend::spawn("traffic").await;
    let checked = Backend::spawn("checked").await;
    let wrong = Backend::spawn("wrong").await;
    let ranged = Backend::spawn("ranged").await;
    let slow = Backend::builder("slow")
        .delay(Duration::from_secs(2))
        .spawn()
        .await;
    let lb = BallastProcess::start(
        bin(),
        &groups_config(&[
            (
                "override",
                traffic.addr,
                format!(
                    "path = \"/hc?deep=1\", method = \"HEAD\", host = \"health.internal\", port = {}",
                    checked.addr.port()
                ),
            ),
            ("mismatch", wrong.addr, "path = \"/health?status=503\"".into()),
            (
                "accepts_5xx",
                ranged.addr,
                "path = \"/health?status=503\", matcher = \"200,500-599\"".into(),
            ),
            ("timeout", slow.addr, "path = \"/health\"".into()),
        ]),
    );

    let event = lb.wait_for_health(traffic.addr, "healthy", WAIT);
    assert_eq!(event["target_group"], "override");
    assert_eq!(traffic.hits(), 0, "checks went to the port override");
    let seen = checked.recorded();
    assert!(seen.len() >= 2, "{seen:?}");
    assert_eq!(seen[0].method, "HEAD");
    assert_eq!(seen[0].path, "/hc");
    assert_eq!(seen[0].headers["host"], "health.internal");
    assert_eq!(seen[0].headers["user-agent"], "ballast-health-check");

    let event = lb.wait_for_health(wrong.addr, "unhealthy", WAIT);
    assert_eq!(event["from"], "initial");
    assert_eq!(event["reason"], "Target.ResponseCodeMismatch");
    lb.wait_for_health(ranged.addr, "healthy", WAIT);
    let event = lb.wait_for_health(slow.addr, "unhealthy", WAIT);
    assert_eq!(event["reason"], "Target.Timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_checks_pass_when_the_connection_opens() {
    let open = RawBackend::spawn(RawMode::CloseAfterRequest).await;
    let closed = closed_port();
    let lb = BallastProcess::start(
        bin(),
        &groups_config(&[
            ("open", open.addr, "protocol = \"tcp\"".into()),
            ("closed", closed, "protocol = \"tcp\"".into()),
        ]),
    );
    lb.wait_for_health(open.addr, "healthy", WAIT);
    let event = lb.wait_for_health(closed, "unhealthy", WAIT);
    assert_eq!(event["reason"], "Target.FailedHealthChecks");
    wait_until("two tcp checks accepted", WAIT, || open.accepted() >= 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_checks_ask_the_standard_health_service() {
    let whole = GrpcHealthServer::spawn().await;
    let per_service = GrpcHealthServer::spawn().await;
    per_service.set("shop.Cart", false).await;
    let unknown = GrpcHealthServer::spawn().await;
    let not_grpc = Backend::spawn("http-only").await;
    let lb = BallastProcess::start(
        bin(),
        &groups_config(&[
            ("whole", whole.addr, "protocol = \"grpc\"".into()),
            (
                "cart",
                per_service.addr,
                "protocol = \"grpc\", grpc_service = \"shop.Cart\"".into(),
            ),
            (
                "unknown",
                unknown.addr,
                "protocol = \"grpc\", grpc_service = \"no.Such\"".into(),
            ),
            ("http", not_grpc.addr, "protocol = \"grpc\"".into()),
        ]),
    );
    lb.wait_for_health(whole.addr, "healthy", WAIT);
    let event = lb.wait_for_health(per_service.addr, "unhealthy", WAIT);
    assert_eq!(event["reason"], "Target.ResponseCodeMismatch");
    // tonic answers NOT_FOUND for a service it does not know.
    let event = lb.wait_for_health(unknown.addr, "unhealthy", WAIT);
    assert_eq!(event["reason"], "Target.ResponseCodeMismatch");
    let event = lb.wait_for_health(not_grpc.addr, "unhealthy", WAIT);
    assert_eq!(event["reason"], "Target.FailedHealthChecks");

    // The service starts serving: the target becomes healthy.
    per_service.set("shop.Cart", true).await;
    lb.wait_for_health(per_service.addr, "healthy", WAIT);
}

/// A group without a health check sends to its targets at once; the binary's log says why
/// every checked target changed state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchecked_targets_take_traffic_at_once() {
    let backend = Backend::spawn("a").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[backend.addr], "workers = 1", "", ""),
    );
    assert_eq!(get(lb.addr("web"), "/").await.status(), 200);
    assert!(lb.events_with("target health changed").is_empty());
}
