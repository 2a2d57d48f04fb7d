//! 502, 503 and 504 provoked for real, each logged with its reason.

use std::path::Path;
use std::time::Duration;

use ballast_testkit::client::get;
use ballast_testkit::{closed_port, BallastProcess, RawBackend, RawMode};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn listener(name: &str) -> String {
    format!(
        "[listeners.{name}]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"{name}\" }}\n"
    )
}

fn group(name: &str, target: Option<std::net::SocketAddr>) -> String {
    let targets = target.map(|t| format!("\"{t}\"")).unwrap_or_default();
    format!("[target_groups.{name}]\ntargets = [{targets}]\nresponse_timeout = \"300ms\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_failures_map_to_cloud_load_balancer_statuses() {
    let reset = RawBackend::spawn(RawMode::ResetOnAccept).await;
    let closed = RawBackend::spawn(RawMode::CloseAfterRequest).await;
    let garbage = RawBackend::spawn(RawMode::Garbage).await;
    let silent = RawBackend::spawn(RawMode::Silent).await;
    // A reset can surface while connecting or while sending, depending on timing.
    let cases: [(&str, Option<std::net::SocketAddr>, u16, &[&str]); 6] = [
        (
            "refused",
            Some(closed_port()),
            502,
            &["Target.ConnectionRefused"],
        ),
        (
            "reset",
            Some(reset.addr),
            502,
            &["Target.ConnectionReset", "Target.ConnectionClosed"],
        ),
        (
            "closed",
            Some(closed.addr),
            502,
            &["Target.ConnectionClosed"],
        ),
        (
            "garbage",
            Some(garbage.addr),
            502,
            &["Target.InvalidResponse"],
        ),
        ("empty", None, 503, &["Group.NoTarget"]),
        (
            "silent",
            Some(silent.addr),
            504,
            &["Target.ResponseTimeout"],
        ),
    ];
    let mut config = String::new();
    for (name, target, _, _) in &cases {
        config.push_str(&listener(name));
        config.push_str(&group(name, *target));
    }
    let lb = BallastProcess::start(bin(), &config);

    for (name, _, status, reasons) in cases {
        let response = get(lb.addr(name), "/x").await;
        assert_eq!(response.status(), status, "{name}");
        let page = String::from_utf8_lossy(response.body()).into_owned();
        assert!(page.starts_with(&status.to_string()), "{name}: {page}");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let logged = lb.events_with("request failed").into_iter().any(|e| {
                e["listener"] == name
                    && e["status"] == status
                    && reasons.iter().any(|r| e["reason"] == *r)
            });
            if logged {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: no log with reason {reasons:?}: {:#?}",
                lb.events()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert!(reset.accepted() >= 1 && garbage.accepted() >= 1 && silent.accepted() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_target_does_not_break_the_client_connection() {
    // After a 502 the client's keep-alive connection still serves the next request.
    let lb = BallastProcess::start(
        bin(),
        &format!("{}{}", listener("web"), group("web", Some(closed_port()))),
    );
    let addr = lb.addr("web");
    let mut client = ballast_testkit::client::H1::connect(addr).await;
    assert_eq!(client.get(addr, "/").await.status(), 502);
    assert_eq!(client.get(addr, "/").await.status(), 502);
}
