//! SIGHUP reloads the configuration file: new weights apply without a failed request, and an
//! invalid file is refused while the running configuration keeps serving.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ballast_testkit::client::H1;
use ballast_testkit::{Backend, BallastProcess};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn config(blue: SocketAddr, green: SocketAddr, weights: (u32, u32)) -> String {
    format!(
        "[server]\nworkers = 2\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = {{ groups = [{{ name = \"blue\", weight = {} }}, {{ name = \"green\", weight = {} }}] }} }}\n[target_groups.blue]\ntargets = [\"{blue}\"]\n[target_groups.green]\ntargets = [\"{green}\"]\n",
        weights.0, weights.1
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sighup_shifts_traffic_under_load_without_a_failed_request() {
    let blue = Backend::spawn("blue").await;
    let green = Backend::spawn("green").await;
    let lb = BallastProcess::start(bin(), &config(blue.addr, green.addr, (100, 0)));
    let addr = lb.addr("web");

    // Four clients keep requests in flight the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, failures) = (Arc::clone(&stop), Arc::clone(&failures));
            tokio::spawn(async move {
                let mut client = H1::connect(addr).await;
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) && sent < 20_000 {
                    match client
                        .send(ballast_testkit::client::get_request(addr, "/"))
                        .await
                    {
                        Ok(r) if r.status() == 200 => {}
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    sent += 1;
                }
            })
        })
        .collect();
    ballast_testkit::wait_until("traffic on blue", Duration::from_secs(10), || {
        blue.hits() > 50
    })
    .await;
    lb.rewrite_config(&config(blue.addr, green.addr, (0, 100)));
    lb.signal("HUP");
    lb.wait_for_log("configuration reloaded", Duration::from_secs(10));
    let blue_after = blue.hits();
    ballast_testkit::wait_until("traffic on green", Duration::from_secs(10), || {
        green.hits() > 50
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during the reload"
    );
    // Requests already routed when the reload landed may still reach blue; new ones do not.
    assert!(blue.hits() - blue_after <= 8, "blue kept getting traffic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_is_refused_and_the_old_configuration_serves() {
    let blue = Backend::spawn("blue").await;
    let green = Backend::spawn("green").await;
    let lb = BallastProcess::start(bin(), &config(blue.addr, green.addr, (100, 0)));
    let addr = lb.addr("web");
    // A weight out of range: the whole file is refused.
    lb.rewrite_config(&config(blue.addr, green.addr, (100, 5000)));
    lb.signal("HUP");
    let refused = lb.wait_for_log(
        "reload refused, the running configuration stays",
        Duration::from_secs(10),
    );
    assert!(
        refused["errors"]
            .as_str()
            .unwrap()
            .contains("listeners.web.default_action.forward.groups[1].weight: invalid value 5000"),
        "the error names its key: {refused}"
    );
    let response = ballast_testkit::client::get(addr, "/").await;
    assert_eq!(response.status(), 200);
    assert!(blue.hits() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_grown_past_the_size_limit_is_refused_without_being_echoed() {
    let blue = Backend::spawn("blue").await;
    let green = Backend::spawn("green").await;
    let lb = BallastProcess::start(bin(), &config(blue.addr, green.addr, (100, 0)));
    let addr = lb.addr("web");
    // A comment is enough: the size is refused before the file is parsed (or read whole).
    let mut huge = config(blue.addr, green.addr, (0, 100));
    huge.push_str(&format!("# {}\n", "x".repeat(17 << 20)));
    lb.rewrite_config(&huge);
    lb.signal("HUP");
    let refused = lb.wait_for_log(
        "reload refused, the running configuration stays",
        Duration::from_secs(10),
    );
    let errors = refused["errors"].as_str().unwrap();
    assert!(
        errors.starts_with("invalid value a document of")
            && errors.ends_with("expected at most 16777216 bytes (16 MiB)"),
        "{refused}"
    );
    let response = ballast_testkit::client::get(addr, "/").await;
    assert_eq!(response.status(), 200);
    assert!(blue.hits() >= 1);
}
