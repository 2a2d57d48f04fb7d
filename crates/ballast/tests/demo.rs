//! `ballast demo` starts, serves through the balancer, shows its dashboard at the URL it
//! prints, runs its backends as a scaling group, and takes them down with it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ballast_testkit::client::get;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_requests_from_all_three_backends_and_stops_cleanly() {
    let mut child = Command::new(bin())
        .args(["demo", "--port", "0", "--admin-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (url, dashboard, backends) = tokio::task::spawn_blocking(move || {
        let mut url = None;
        let mut dashboard = None;
        let mut backends = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let trimmed = line.trim();
            if let Some(rest) = trimmed.strip_prefix("dashboard") {
                dashboard = Some(rest.trim().to_owned());
            } else if let Some(rest) = trimmed.strip_prefix("listener") {
                url = Some(rest.trim().to_owned());
            } else if trimmed.starts_with("echo-") {
                backends.push(trimmed.rsplit("http://").next().unwrap().to_owned());
            } else if trimmed.starts_with("Press Ctrl-C") {
                break;
            }
        }
        (
            url.expect("demo prints its listener"),
            dashboard.expect("demo prints its dashboard"),
            backends,
        )
    })
    .await
    .unwrap();
    assert_eq!(backends.len(), 3);
    let addr = url.trim_start_matches("http://").parse().unwrap();

    // The dashboard URL as printed (`http://IP:PORT/`) answers with the live page.
    let (admin, path) = dashboard
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('/'))
        .unwrap_or_else(|| panic!("dashboard URL {dashboard:?}"));
    let page = get(admin.parse().unwrap(), &format!("/{path}")).await;
    assert_eq!(page.status(), 200, "{dashboard}");
    let html = std::str::from_utf8(page.body()).unwrap();
    assert!(
        html.contains("<canvas"),
        "not the dashboard page: {html:.200}"
    );
    let groups = get(admin.parse().unwrap(), "/api/v1/target-groups").await;
    assert_eq!(groups.status(), 200);
    assert!(std::str::from_utf8(groups.body()).unwrap().contains("echo"));
    // The backends are a scaling group's instances.
    let scaling = get(admin.parse().unwrap(), "/api/v1/scaling-groups/echo").await;
    assert_eq!(scaling.status(), 200);
    let scaling: serde_json::Value = serde_json::from_slice(scaling.body()).unwrap();
    assert_eq!(scaling["desired"], 3, "{scaling}");

    // The demo health-checks its backends: all three serve once their checks pass (and
    // the group fails open until then, so every request succeeds meanwhile).
    let mut instances = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let response = get(addr, "/hello").await;
        assert_eq!(response.status(), 200);
        let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(json["path"], "/hello");
        instances.insert(json["instance"].as_str().unwrap().to_owned());
        if instances.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        instances.into_iter().collect::<Vec<_>>(),
        vec!["echo-1", "echo-2", "echo-3"]
    );

    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    for backend in backends {
        let addr: std::net::SocketAddr = backend.parse().unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "backend {addr} outlived the demo"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
