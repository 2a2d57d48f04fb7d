//! Passive health: a target that fails real traffic is ejected, then comes back.

use std::path::Path;
use std::time::{Duration, Instant};

use ballast_testkit::client::get;
use ballast_testkit::{wait_until, web_app_config, Backend, BallastProcess};
use http::StatusCode;

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
    let ejection = Duration::from_secs(2);
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(
            &[bad.addr, good.addr],
            "workers = 1",
            "",
            "outlier_detection = { consecutive_failures = 3, base_ejection_time = \"2s\", max_ejection_percent = 50 }",
        ),
    );
    let addr = lb.addr("web");

    // Three 500s in a row eject it; the target's 500s reach the client unchanged.
    let mut five_hundreds = 0;
    for _ in 0..200 {
        if get(addr, "/").await.status() == 500 {
            five_hundreds += 1;
        }
        if !lb
            .events_with("target ejected: consecutive failures on real traffic")
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ejected = lb.wait_for_log(
        "target ejected: consecutive failures on real traffic",
        Duration::from_secs(5),
    );
    let seen_at = Instant::now();
    assert_eq!(ejected["target"], bad.addr.to_string());
    assert!(five_hundreds >= 3);

    // While ejected it gets nothing.
    let before = bad.hits();
    for _ in 0..20 {
        assert_eq!(get(addr, "/").await.status(), 200);
    }
    if seen_at.elapsed() < ejection {
        assert_eq!(bad.hits(), before, "an ejected target got a request");
    }

    // After its ejection time it takes traffic again.
    lb.wait_for_log("target returned from ejection", Duration::from_secs(10));
    for _ in 0..10 {
        get(addr, "/").await;
    }
    assert!(bad.hits() > before, "the returned target was never picked");
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
    wait_until("two ejections", Duration::from_secs(5), || {
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
