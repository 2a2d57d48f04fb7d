//! Live reload by a change of the config file and through the admin API: listeners added and
//! removed, rules changed, while established connections and requests in flight on untouched
//! listeners carry on, and no request fails under load.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::{get_request, H1};
use ballast_testkit::{Backend, BallastProcess, EchoProcess};
use serde_json::json;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn config(target: SocketAddr, second: &str, rule_path: &str) -> String {
    format!(
        r#"[admin]
bind = "127.0.0.1:0"

[listeners.main]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}
rules = [{{ priority = 1, conditions = {{ path = ["{rule_path}"] }}, action = {{ fixed_response = {{ status = 204 }} }} }}]

[listeners.{second}]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}

[target_groups.app]
targets = ["{target}"]
"#
    )
}

fn started(lb: &BallastProcess, listener: &str) -> SocketAddr {
    let event = lb.wait_for_event(
        &format!("listener {listener} started"),
        Duration::from_secs(10),
        |e| e["message"] == "listener started" && e["listener"] == listener,
    );
    event["addr"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_change_adds_and_removes_listeners_without_touching_the_others() {
    let echo = EchoProcess::start(bin(), 0, "echo");
    let lb = BallastProcess::start(bin(), &config(echo.addr, "old", "/a"));
    let main = lb.addr("main");
    let old = lb.addr("old");

    // An established keep-alive connection and a slow request in flight on `main`.
    let mut kept = H1::connect(main).await;
    assert_eq!(kept.get(main, "/").await.status(), 200);
    let slow = tokio::spawn(async move {
        let mut c = H1::connect(main).await;
        c.send(get_request(main, "/?delay=1500ms"))
            .await
            .map(|r| r.status().as_u16())
    });
    ballast_testkit::wait_until("slow request in flight", Duration::from_secs(5), || {
        std::net::TcpStream::connect(main).is_ok()
    })
    .await;

    // A connection opened on `old` just before the reload, its request not sent yet.
    let mut opened = tokio::net::TcpStream::connect(old).await.unwrap();

    // Rewrite the file (no signal): `old` goes, `new` comes, the rule on `main` changes.
    lb.rewrite_config(&config(echo.addr, "new", "/b"));
    lb.wait_for_event("a reload from the file", Duration::from_secs(10), |e| {
        e["message"] == "configuration reloaded" && e["origin"] == "file"
    });
    let new = started(&lb, "new");

    assert_eq!(
        slow.await.unwrap().unwrap(),
        200,
        "the request in flight was cut"
    );
    // The connection opened before the removal still gets its request served, then closes.
    {
        use tokio::io::AsyncWriteExt;
        opened
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let reply =
            ballast_testkit::client::read_until_closed(&mut opened, Duration::from_secs(5)).await;
        assert_eq!(reply.status(), Some(200), "{}", reply.text());
    }
    // The same connection still works, and sees the new rule.
    assert_eq!(kept.get(main, "/b").await.status(), 204);
    assert_eq!(kept.get(main, "/a").await.status(), 200);
    assert_eq!(H1::connect(new).await.get(new, "/").await.status(), 200);
    ballast_testkit::wait_until("old listener closed", Duration::from_secs(5), || {
        std::net::TcpStream::connect(old).is_err()
    })
    .await;

    // A broken file is refused and counted; everything keeps serving.
    lb.rewrite_config("[listeners.main]\nbind = 7\n");
    lb.wait_for_event("a refused reload", Duration::from_secs(10), |e| {
        e["message"] == "reload refused, the running configuration stays" && e["origin"] == "file"
    });
    assert_eq!(kept.get(main, "/b").await.status(), 204);
    let admin = AdminClient::new(lb.admin_addr());
    let reloads = admin.get("/api/v1/reloads").await.json;
    assert_eq!(
        (reloads["succeeded"].as_u64(), reloads["failed"].as_u64()),
        (Some(1), Some(1)),
        "{reloads}"
    );
    assert!(
        reloads["last_error"][0]
            .as_str()
            .unwrap()
            .starts_with("listeners.main.bind"),
        "{reloads}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_reloads_under_load_fail_no_request() {
    let blue = Backend::spawn("blue").await;
    let green = Backend::spawn("green").await;
    let cfg = format!(
        "[admin]\nbind = \"127.0.0.1:0\"\n[server]\nwatch_config = false\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = {{ groups = [{{ name = \"blue\", weight = 50 }}, {{ name = \"green\", weight = 50 }}] }} }}\n[target_groups.blue]\ntargets = [\"{}\"]\n[target_groups.green]\ntargets = [\"{}\"]\n",
        blue.addr, green.addr
    );
    let lb = BallastProcess::start(bin(), &cfg);
    let admin = AdminClient::new(lb.admin_addr());
    let addr = lb.addr("web");
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (stop, sent, failures) =
                (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&failures));
            tokio::spawn(async move {
                // Half the clients keep one connection, half open a new one per request.
                let mut kept = H1::connect(addr).await;
                for _ in 0..20_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let result = if i % 2 == 0 {
                        kept.send(get_request(addr, "/")).await
                    } else {
                        H1::connect(addr).await.send(get_request(addr, "/")).await
                    };
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !matches!(result, Ok(r) if r.status() == 200) {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut document = admin.get("/api/v1/config").await.json;
    for round in 0..10u32 {
        let blue_weight = if round % 2 == 0 { 100 } else { 0 };
        document["listeners"]["web"]["default_action"]["forward"]["groups"] = json!([
            {"name": "blue", "weight": blue_weight},
            {"name": "green", "weight": 100 - blue_weight}
        ]);
        let reply = admin.put("/api/v1/config", &document).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let before = sent.load(Ordering::Relaxed);
        ballast_testkit::wait_until("traffic after a reload", Duration::from_secs(10), || {
            sent.load(Ordering::Relaxed) > before + 50
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let total = sent.load(Ordering::Relaxed);
    assert!(total > 500, "only {total} requests sent");
    assert_eq!(failures.load(Ordering::Relaxed), 0, "of {total} requests");
    assert_eq!(
        admin
            .metric("ballast_config_reloads_total{result=\"success\"}")
            .await,
        10.0
    );
}
