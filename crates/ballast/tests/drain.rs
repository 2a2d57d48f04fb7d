//! SIGTERM: stop accepting, let in-flight requests finish, exit 0.

use std::path::Path;
use std::time::Duration;

use ballast_testkit::client::get;
use ballast_testkit::{wait_until, web_app_config, Backend, BallastProcess, RawBackend, RawMode};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn config(target: std::net::SocketAddr, drain: &str) -> String {
    web_app_config(&[target], &format!("drain_timeout = \"{drain}\""), "", "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_slow_request_finish_then_exits_zero() {
    let backend = Backend::builder("slow")
        .delay(Duration::from_millis(1500))
        .spawn()
        .await;
    let mut lb = BallastProcess::start(bin(), &config(backend.addr, "20s"));
    let addr = lb.addr("web");

    let in_flight = tokio::spawn(async move { get(addr, "/slow").await });
    wait_until(
        "the slow request to reach the target",
        Duration::from_secs(10),
        || !backend.recorded().is_empty(),
    )
    .await;
    lb.signal("TERM");
    lb.wait_for_log(
        "stopping: no new connections, draining in-flight requests",
        Duration::from_secs(10),
    );

    // The listener stops accepting: new connections are refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "listener still accepts after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), 200, "the in-flight request completes");
    let status = tokio::task::spawn_blocking(move || lb.wait_exit(Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_timeout_bounds_shutdown() {
    let silent = RawBackend::spawn(RawMode::Silent).await;
    let mut lb = BallastProcess::start(bin(), &config(silent.addr, "300ms"));
    let addr = lb.addr("web");
    let stuck = tokio::spawn(async move {
        let mut client = ballast_testkit::client::H1::connect(addr).await;
        client
            .send(ballast_testkit::client::get_request(addr, "/"))
            .await
    });
    wait_until(
        "the request to reach the target",
        Duration::from_secs(10),
        || silent.accepted() > 0,
    )
    .await;
    lb.signal("INT");
    let status = tokio::task::spawn_blocking(move || lb.wait_exit(Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "exit 0 even when the drain timeout cuts requests off"
    );
    assert!(
        stuck.await.unwrap().is_err(),
        "the cut-off request sees its connection close"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_during_the_drain_exits_at_once() {
    let silent = RawBackend::spawn(RawMode::Silent).await;
    let mut lb = BallastProcess::start(bin(), &config(silent.addr, "60s"));
    let addr = lb.addr("web");
    let _stuck = tokio::spawn(async move { get(addr, "/").await });
    wait_until(
        "the request to reach the target",
        Duration::from_secs(10),
        || silent.accepted() > 0,
    )
    .await;
    lb.signal("TERM");
    lb.wait_for_log(
        "stopping: no new connections, draining in-flight requests",
        Duration::from_secs(10),
    );
    // The second handler is installed right after that log line; retry until it takes.
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            lb.signal("TERM");
            if let Some(status) = lb.try_wait_exit(Duration::from_millis(200)) {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "a second SIGTERM did not stop the drain"
            );
        }
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(1));
}
