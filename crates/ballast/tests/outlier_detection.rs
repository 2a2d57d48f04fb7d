//! Passive health: a target that fails real traffic is ejected, then comes back.

use std::path::Path;
use std::time::Duration;

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::get;
use ballast_testkit::{wait_until, web_app_config, Backend, BallastProcess};
use http::StatusCode;

const EJECTED: &str = "target ejected: consecutive failures on real traffic";

/// Only a guard against a hang: nothing here is asserted to happen fast.
const WAIT: Duration = Duration::from_secs(30);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_answering_500_is_ejected_and_comes_back_after_its_ejection_time() {
    let bad = Backend::builder("bad")
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .spawn()
        .await;
    let good = Backend::spawn("good").await;
    // The ejection lasts long enough for a request and an admin call to fit in it on any
    // machine; what the test asserts does not depend on how many do.
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &[bad.addr, good.addr],
            "workers = 1\n[admin]\nbind = \"127.0.0.1:0\"",
            "",
            "outlier_detection = { consecutive_failures = 3, base_ejection_time = \"5s\", max_ejection_percent = 50 }",
        ),
    );
    let addr = lb.addr("web");
    let admin = AdminClient::new(lb.admin_addr());

    // Three 500s in a row eject it; the target's 500s reach the client unchanged.
    let mut five_hundreds = 0;
    for _ in 0..200 {
        if get(addr, "/").await.status() == 500 {
            five_hundreds += 1;
        }
        if !lb.events_with(EJECTED).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ejected = lb.wait_for_log(EJECTED, WAIT);
    assert_eq!(ejected["target"], bad.addr.to_string());
    assert!(five_hundreds >= 3);

    // While ejected it gets nothing: every request that was answered while the admin API
    // still reported the ejection both before and after it went elsewhere. (The ejection
    // is one span of time, and it cannot start again meanwhile: that takes three requests
    // to the target, and the loop stops at the first moment it is back.)
    let (still_ejected, before) = target(&admin, bad.addr).await;
    assert!(still_ejected, "the ejection was over before the first look");
    let hits_before = bad.hits();
    let mut during = 0;
    loop {
        let response = get(addr, "/").await;
        let (still_ejected, requests) = target(&admin, bad.addr).await;
        if !still_ejected {
            break;
        }
        assert_eq!(requests, before, "an ejected target got a request");
        assert_eq!(response.status(), 200);
        during += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(during > 0, "no request was answered within the ejection");

    // After its ejection time it takes traffic again.
    lb.wait_for_log("target returned from ejection", WAIT);
    let deadline = tokio::time::Instant::now() + WAIT;
    while bad.hits() == hits_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the returned target was never picked"
        );
        get(addr, "/").await;
    }
}

/// Whether the admin API reports `address` ejected, and the requests sent to it so far.
async fn target(admin: &AdminClient, address: std::net::SocketAddr) -> (bool, u64) {
    let reply = admin.get("/api/v1/target-groups/app/targets").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let targets = reply.json["targets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let target = targets
        .iter()
        .find(|t| t["address"] == address.to_string())
        .unwrap_or_else(|| panic!("no {address} in {}", reply.text));
    (
        target["ejected"].as_bool().unwrap(),
        target["requests"].as_u64().unwrap(),
    )
}

/// At most `max_ejection_percent` of a group is out at once: when every target fails, half
/// of them keep serving (and failing) rather than the whole group going dark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_the_allowed_share_is_ejected() {
    let backends = [
        Backend::builder("a")
            .status(StatusCode::BAD_GATEWAY)
            .spawn()
            .await,
        Backend::builder("b")
            .status(StatusCode::BAD_GATEWAY)
            .spawn()
            .await,
        Backend::builder("c")
            .status(StatusCode::BAD_GATEWAY)
            .spawn()
            .await,
        Backend::builder("d")
            .status(StatusCode::BAD_GATEWAY)
            .spawn()
            .await,
    ];
    let addrs: Vec<_> = backends.iter().map(|b| b.addr).collect();
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &addrs,
            "workers = 1",
            "",
            "outlier_detection = { consecutive_failures = 2, base_ejection_time = \"60s\", max_ejection_percent = 50 }",
        ),
    );
    let addr = lb.addr("web");
    for _ in 0..40 {
        get(addr, "/").await;
    }
    wait_until("two ejections", WAIT, || {
        lb.events_with("target ejected: consecutive failures on real traffic")
            .len()
            >= 2
    })
    .await;
    for _ in 0..40 {
        get(addr, "/").await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(
        lb.events_with("target ejected: consecutive failures on real traffic")
            .len(),
        2,
        "50 % of 4 targets"
    );
}
