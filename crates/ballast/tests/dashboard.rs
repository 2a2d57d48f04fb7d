//! The dashboard end to end, in a real browser: the real binary with a token-protected admin
//! listener and headless Chromium (Debian's `chromium` package) driven over the Chrome
//! DevTools protocol. Each page is opened once and watched live:
//!
//! - two `ballast echo` targets behind a health-checked group: the page must show both
//!   healthy, then, after one target process is killed, show it unhealthy through its event
//!   stream without a reload;
//! - a scaling group whose `process` provider runs `ballast echo` instances: the page must
//!   show its two instances in service and their launches, then a third instance after the
//!   desired capacity is set to 3 through the admin API;
//! - a DNS server with failover and weighted record sets: the page must show the record
//!   sets with their members healthy and the answers counted, then, after the primary's TCP
//!   endpoint stops, the primary and its health check unhealthy and the secondary answered;
//! - two nodes of a cluster sharing a real etcd: the page must list both nodes with etcd
//!   answering, then, after etcd stops, say that etcd is out of reach and which revision the
//!   node keeps serving.
//!
//! Set `BALLAST_UPDATE_SCREENSHOT=1` to write the screenshots to `docs/images/dashboard.png`,
//! `docs/images/dashboard-scaling.png`, `docs/images/dashboard-dns.png` and
//! `docs/images/dashboard-cluster.png`; otherwise they go
//! to a temporary directory.
//! `BALLAST_CHROMIUM` names another browser binary (default `chromium`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::Full;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::{get, H1};
use ballast_testkit::{toml_targets, BallastProcess, EchoProcess};

const TOKEN: &str = "dashboard-test-token-0123456789";
const WAIT: Duration = Duration::from_secs(15);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_targets_and_follows_a_target_going_down_live() {
    let started = Instant::now();
    let mut a = EchoProcess::start(bin(), 0, "a");
    let b = EchoProcess::start(bin(), 0, "b");
    let mut ballast = BallastProcess::start(bin(), &config(&[a.addr, b.addr]));
    let admin = ballast.admin_addr();
    let web = ballast.addr("web");

    // Without the token: refused; the query token works only on the dashboard's paths.
    assert_eq!(get(admin, "/api/v1/stats").await.status(), 401);
    let stats = get(admin, &format!("/api/v1/stats?token={TOKEN}")).await;
    assert_eq!(stats.status(), 200);
    let stats: Value = serde_json::from_slice(stats.body()).unwrap();
    assert_eq!(stats["listeners"][0]["name"], "web");
    // Enums as the config spells them, not their Rust names.
    assert_eq!(stats["target_groups"][0]["algorithm"], "round_robin");
    assert_eq!(
        get(admin, &format!("/api/v1/config?token={TOKEN}"))
            .await
            .status(),
        401
    );
    let openapi = authorized_get(admin, "/api/v1/openapi.json").await;
    let openapi: Value = serde_json::from_slice(openapi.body()).unwrap();
    for path in ["/", "/api/v1/stats", "/api/v1/events", "/api/v1/dns"] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} not in the OpenAPI document"
        );
    }
    let page = authorized_get(admin, "/").await;
    assert_eq!(page.status(), 200);
    assert!(std::str::from_utf8(page.body())
        .unwrap()
        .contains("<canvas"));

    // Steady traffic, one request in ten answered 503 by a rule, so every chart has a line.
    let stop_traffic = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn(send_traffic(web, Arc::clone(&stop_traffic)));

    let mut browser = Browser::launch(&format!("http://{admin}/?token={TOKEN}")).await;
    let states = browser
        .wait_for("both targets healthy on the page", TARGET_STATES, |v| {
            v[a.addr.to_string()] == "healthy" && v[b.addr.to_string()] == "healthy"
        })
        .await;
    println!("page shows {states}");
    let text = browser.eval("document.body.textContent").await;
    let text = text.as_str().unwrap();
    for expected in ["web", "/fail", "round_robin", "Configuration reloads"] {
        assert!(
            text.contains(expected),
            "no {expected:?} on the page: {text}"
        );
    }

    a.kill();
    let killed = Instant::now();
    browser
        .wait_for(
            "the killed target unhealthy on the page",
            TARGET_STATES,
            |v| v[a.addr.to_string()] == "unhealthy" && v[b.addr.to_string()] == "healthy",
        )
        .await;
    println!(
        "unhealthy on the page {:?} after the kill",
        killed.elapsed()
    );
    // The page was never reloaded: the change came over the event stream.
    assert_eq!(
        browser
            .eval("performance.getEntriesByType('navigation').length")
            .await,
        1
    );
    browser
        .wait_for("a chart point with traffic", SERIES_WITH_TRAFFIC, |v| {
            v == true
        })
        .await;

    if update_screenshot() {
        // For the docs: half a minute of history, so the charts have lines worth showing.
        browser
            .wait_longer(
                "30 chart points",
                "fetch('/api/v1/stats' + location.search).then(r => r.json()).then(s => s.series.length)",
                Duration::from_secs(40),
                |v| v.as_u64() >= Some(30),
            )
            .await;
    }
    // No scaling group: no scaling section. No [dns]: /api/v1/dns answers 404, and the DNS
    // section stays hidden without calling that a problem.
    assert_eq!(
        browser
            .eval("document.getElementById('scaling').hidden")
            .await,
        true
    );
    assert_eq!(
        get(admin, &format!("/api/v1/dns?token={TOKEN}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        browser
            .eval("[document.getElementById('dns').hidden, document.getElementById('dns-problem').hidden]")
            .await,
        json!([true, true])
    );
    let png = browser.screenshot(None).await;
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let path = screenshot_path("dashboard.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());

    // An open event stream does not hold the admin server up: SIGTERM ends the process.
    stop_traffic.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    ballast.signal("TERM");
    let status = ballast.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "ballast exited with {status}");
    browser.close().await;
    // Reported, not asserted: every wait above has its own hang guard.
    println!("test took {:?}", started.elapsed());
}

/// Each target row's state, by address.
const TARGET_STATES: &str = "Object.fromEntries([...document.querySelectorAll('tr[data-target]')].map(e => [e.dataset.target, e.dataset.state]))";

/// Whether the charts have a point with requests in it yet.
const SERIES_WITH_TRAFFIC: &str = "fetch('/api/v1/stats' + location.search).then(r => r.json()).then(s => s.series.some(p => p.requests_per_s > 0))";

fn config(targets: &[SocketAddr]) -> String {
    format!(
        r#"[server]
workers = 1
drain_timeout = "1s"

[admin]
bind = "127.0.0.1:0"
token = "{TOKEN}"

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}

[[listeners.web.rules]]
priority = 10
conditions = {{ path = ["/fail"] }}
action = {{ fixed_response = {{ status = 503, content_type = "text/plain", body = "failing on purpose" }} }}

[target_groups.app]
targets = [{}]
health_check = {{ path = "/health", interval = "1s", timeout = "500ms", healthy_threshold = 2, unhealthy_threshold = 2 }}
"#,
        toml_targets(targets)
    )
}

async fn authorized_get(admin: SocketAddr, path: &str) -> http::Response<Bytes> {
    let request = http::Request::get(path)
        .header("host", admin.to_string())
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    H1::connect(admin).await.send(request).await.unwrap()
}

/// About 50 requests a second until told to stop. The pause paces the load; nothing waits
/// on it.
async fn send_traffic(web: SocketAddr, stop: Arc<AtomicBool>) {
    let mut client = H1::connect(web).await;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let path = if n.is_multiple_of(10) { "/fail" } else { "/" };
        let response = client.get(web, path).await;
        assert!(matches!(response.status().as_u16(), 200 | 503));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_scaling_group_and_follows_its_desired_capacity() {
    let started = Instant::now();
    // Two days of load history from an earlier run, so the group has a forecast at once.
    let history = tempfile::tempdir().unwrap();
    let history_file = history.path().join("app.json");
    std::fs::write(&history_file, two_days_of_history().to_string()).unwrap();
    let mut ballast =
        BallastProcess::start(bin(), &scaling_config(&echo_provider(8), &history_file));
    let admin_addr = ballast.admin_addr();
    let admin = AdminClient::with_token(admin_addr, TOKEN);
    let mut instances = Instances::default();

    // The page polls the groups' list with the query token; one group's path and the
    // commands still need the header.
    let list = get(admin_addr, &format!("/api/v1/scaling-groups?token={TOKEN}")).await;
    assert_eq!(list.status(), 200);
    let one = format!("/api/v1/scaling-groups/app?token={TOKEN}");
    assert_eq!(get(admin_addr, &one).await.status(), 401);

    let mut browser = Browser::launch(&format!("http://{admin_addr}/?token={TOKEN}")).await;
    // A group samples every 10 s: the launches show at once, in service at the next sample.
    let two = browser
        .wait_longer(
            "two instances in service and their launches on the page",
            SCALING_GROUP,
            SCALING_WAIT,
            |g| g["in_service"] == 2 && causes(g).filter(|c| *c == "launch:ok").count() == 2,
        )
        .await;
    instances.note(&admin).await;
    println!("page shows {two} after {:?}", started.elapsed());
    let header = two["header"].as_str().unwrap();
    for expected in [
        "app → app",
        "desired 2 (min 2, max 4)",
        "2 in service",
        "0 pending",
    ] {
        assert!(header.contains(expected), "no {expected:?} in {header:?}");
    }
    assert_eq!(two["instances"], json!(["app-1", "app-2"]));
    assert_newest_first(&two);

    // Some load, so the chart's load line has something to show.
    let stop_traffic = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn(any_traffic(ballast.addr("web"), Arc::clone(&stop_traffic)));

    let set = admin
        .put("/api/v1/scaling-groups/app/desired", &json!({"desired": 3}))
        .await;
    assert_eq!(set.status, 202, "{}", set.text);
    let three = browser
        .wait_longer(
            "a third instance in service on the page",
            SCALING_GROUP,
            SCALING_WAIT,
            |g| {
                g["in_service"] == 3
                    && g["header"]
                        .as_str()
                        .is_some_and(|h| h.contains("desired 3 (min 2, max 4)"))
            },
        )
        .await;
    instances.note(&admin).await;
    println!("page shows {three} after {:?}", started.elapsed());
    // Newest first: the third launch, then the operator's command that caused it.
    let seen: Vec<&str> = causes(&three).collect();
    assert_eq!(seen.first(), Some(&"launch:ok"), "{seen:?}");
    assert!(seen.contains(&"operator:ok"), "{seen:?}");
    assert_newest_first(&three);
    assert_eq!(
        browser
            .eval("performance.getEntriesByType('navigation').length")
            .await,
        1,
        "the page was reloaded"
    );

    // The last hour's samples and the forecast from the stored history are charted.
    browser
        .wait_for("the capacity chart drawn", SCALING_GROUP, |g| {
            g["samples"].as_u64() > Some(0) && g["points"].as_u64() > Some(0)
        })
        .await;
    browser
        .wait_for("the forecast chart", SCALING_GROUP, |g| {
            g["forecast"] == true
        })
        .await;
    if update_screenshot() {
        // For the docs: a minute of samples, so the chart has lines worth showing.
        browser
            .wait_longer(
                "6 samples on the chart",
                SCALING_GROUP,
                Duration::from_secs(90),
                |g| g["samples"].as_u64() >= Some(6),
            )
            .await;
    }
    let png = browser.screenshot(Some("#scaling")).await;
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let path = screenshot_path("dashboard-scaling.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());

    stop_traffic.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    browser.close().await;
    ballast.signal("TERM");
    let status = ballast.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "ballast exited with {status}");
    println!("test took {:?}", started.elapsed());
}

/// How long a change may take to reach the page: the group's next sample (10 s), a health
/// check or two, and the page's next poll (5 s), with room for a busy machine.
const SCALING_WAIT: Duration = Duration::from_secs(60);

/// What the page shows of scaling group `app`, or `null` while it shows none.
const SCALING_GROUP: &str = r#"(() => {
  const g = document.querySelector('[data-scaling-group="app"]');
  if (!g || document.getElementById('scaling').hidden) return null;
  const rows = (s) => [...g.querySelectorAll(s)];
  const chart = g.querySelector('canvas.capacity-chart');
  return {
    header: g.querySelector('h3').textContent,
    in_service: rows('tr[data-instance][data-state="in_service"]').length,
    instances: rows('tr[data-instance]').map((r) => r.dataset.instance),
    causes: rows('tr[data-cause]').map((r) => r.dataset.cause + ':' + r.dataset.result),
    times: rows('tr[data-cause] td:first-child').map((td) => Date.parse(td.title)),
    samples: Number(chart.dataset.samples),
    points: Number(chart.dataset.points),
    forecast: g.querySelector('canvas.forecast-chart') !== null,
  };
})()"#;

/// The page's activity rows as `cause:result`, newest first.
fn causes(g: &Value) -> impl Iterator<Item = &str> {
    g["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn assert_newest_first(g: &Value) {
    let times: Vec<f64> = g["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t.as_f64()
                .expect("an activity time the page could not read")
        })
        .collect();
    assert!(
        !times.is_empty() && times.windows(2).all(|w| w[0] >= w[1]),
        "activities not newest first: {g}"
    );
}

/// The process groups of the instances the group ran: killed when the test ends, so a
/// failed test (which kills Ballast without a graceful stop) leaves no `ballast echo` behind.
#[derive(Default)]
struct Instances(Vec<i32>);

impl Instances {
    async fn note(&mut self, admin: &AdminClient) {
        let group = admin.get("/api/v1/scaling-groups/app").await.json;
        for instance in group["instances"].as_array().into_iter().flatten() {
            if let Some(pid) = instance["id"].as_str().and_then(|id| id.parse().ok()) {
                self.0.push(pid);
            }
        }
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        for pid in self.0.drain(..) {
            if let Some(group) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
        }
    }
}

/// A `process` provider running `ballast echo` instances on `ports` free ports.
fn echo_provider(ports: u16) -> String {
    ballast_testkit::scaling::echo_provider(bin(), ports)
}

/// Scaling group `app` (2 to 4 instances, 2 wanted) behind listener `web`.
/// A stored load history of group `app`: two days ending a minute ago, quiet at night and
/// busy by day.
fn two_days_of_history() -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hours: Vec<f64> = (0..48)
        .map(|h| 2000.0 + 6000.0 * (std::f64::consts::PI * f64::from(h % 24) / 24.0).sin())
        .collect();
    json!({ "version": 1, "group": "app", "ended_at": now - 60, "hours": hours })
}

fn scaling_config(provider: &str, history_file: &Path) -> String {
    format!(
        r#"[server]
workers = 1
drain_timeout = "1s"

[admin]
bind = "127.0.0.1:0"
token = "{TOKEN}"

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}

[target_groups.app]
deregistration_delay = "0s"
health_check = {{ path = "/health", interval = "1s", timeout = "500ms", healthy_threshold = 2 }}

[scaling_groups.app]
target_group = "app"
min = 2
max = 4
desired = 2
history_file = "{}"
{provider}
policies = [{{ type = "predictive", target = 3000 }}]
"#,
        history_file.display()
    )
}

/// About 20 requests a second until told to stop, whatever the answers (an instance may be
/// starting). The pause paces the load; nothing waits on it.
async fn any_traffic(web: SocketAddr, stop: Arc<AtomicBool>) {
    let mut client = H1::connect(web).await;
    while !stop.load(Ordering::Relaxed) {
        let request = ballast_testkit::client::get_request(web, "/");
        if client.send(request).await.is_err() {
            client = H1::connect(web).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_dns_record_sets_and_a_member_going_unhealthy() {
    let started = Instant::now();
    let mut site_a = ballast_testkit::dns::Endpoint::start(None).await;
    let mut site_b = ballast_testkit::dns::Endpoint::start(None).await;
    let mut ballast = BallastProcess::start(bin(), &dns_config(site_a.address, site_b.address));
    let admin = ballast.admin_addr();
    let event = ballast.wait_for_log("DNS server started", WAIT);
    let server: SocketAddr = event["addr"].as_str().unwrap().parse().unwrap();
    // Answers to count: the failover set gives its primary, the weighted set both members.
    for _ in 0..12 {
        assert_eq!(dns_a(server, "www.example.test.").await, ["192.0.2.10"]);
        dns_a(server, "api.example.test.").await;
    }

    let mut browser = Browser::launch(&format!("http://{admin}/?token={TOKEN}")).await;
    let shown = browser
        .wait_for("the DNS record sets, all healthy", DNS_VIEW, |v| {
            v["members"]["www.example.test. A 192.0.2.10"] == "true:12"
                && v["checks"]["site-a"] == "true"
        })
        .await;
    println!("page shows {shown} after {:?}", started.elapsed());
    assert_eq!(
        shown["sets"],
        json!([
            "api.example.test. A",
            "example.test. A",
            "www.example.test. A"
        ])
    );
    let text = shown["text"].as_str().unwrap();
    for expected in [
        "example.test.",
        "failover",
        "weighted",
        "primary",
        "secondary",
        "weight 3",
        "calculated",
        "24 queries",
    ] {
        assert!(
            text.contains(expected),
            "no {expected:?} in the DNS section: {text}"
        );
    }

    // The primary's endpoint stops: two failed checks 1 s apart make it unhealthy, and the
    // secondary is answered. The page shows both at its next poll (5 s), without a reload.
    site_a.stop().await;
    let stopped = Instant::now();
    browser
        .wait_for(
            "the primary and its check unhealthy on the page",
            DNS_VIEW,
            |v| {
                v["members"]["www.example.test. A 192.0.2.10"] == "false:12"
                    && v["checks"]["site-a"] == "false"
            },
        )
        .await;
    println!(
        "unhealthy on the page {:?} after the stop",
        stopped.elapsed()
    );
    for _ in 0..3 {
        assert_eq!(dns_a(server, "www.example.test.").await, ["192.0.2.20"]);
    }
    browser
        .wait_for("the secondary's answers on the page", DNS_VIEW, |v| {
            v["members"]["www.example.test. A 192.0.2.20"] == "true:3"
        })
        .await;
    assert_eq!(
        browser
            .eval("performance.getEntriesByType('navigation').length")
            .await,
        1,
        "the page was reloaded"
    );

    let png = browser.screenshot(Some("#dns")).await;
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let path = screenshot_path("dashboard-dns.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());

    browser.close().await;
    site_b.stop().await;
    ballast.signal("TERM");
    let status = ballast.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "ballast exited with {status}");
    println!("test took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_cluster_and_etcd_going_away() {
    let mut etcd = ballast_testkit::EtcdProcess::start();
    let node = |name: &str| {
        format!(
            r#"[admin]
bind = "127.0.0.1:0"
token = "{TOKEN}"

[cluster]
etcd = ["{url}"]
node_name = "{name}"
lease_ttl = "2s"
timeout = "1s"

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ fixed_response = {{ status = 200 }} }}
"#,
            url = etcd.url
        )
    };
    let a = BallastProcess::start(bin(), &node("a"));
    let b = BallastProcess::start(bin(), &node("b"));
    let mut browser = Browser::launch(&format!("http://{}/?token={TOKEN}", a.admin_addr())).await;
    let shown = browser
        .wait_for("both nodes, etcd answering", CLUSTER_VIEW, |v| {
            v["nodes"] == json!(["a", "b"]) && v["etcd"] == "connected"
        })
        .await;
    assert!(shown["text"].as_str().unwrap().contains("runs revision"));

    etcd.stop();
    let shown = browser
        .wait_for("etcd out of reach on the page", CLUSTER_VIEW, |v| {
            v["etcd"] == "lost"
        })
        .await;
    let text = shown["text"].as_str().unwrap();
    assert!(text.contains("keeps serving revision"), "{text}");
    let png = browser.screenshot(Some("#cluster")).await;
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(screenshot_path("dashboard-cluster.png"), &png).unwrap();
    browser.close().await;
    drop((a, b));
}

/// What the page's cluster section shows, or `null` while hidden: the nodes listed, whether
/// etcd answers (`connected` or `lost`), the text.
const CLUSTER_VIEW: &str = r#"(() => {
  const section = document.getElementById('cluster');
  if (!section || section.hidden) return null;
  const etcd = section.querySelector('[data-etcd]');
  return {
    nodes: [...section.querySelectorAll('tr[data-node]')].map((r) => r.dataset.node),
    etcd: etcd ? etcd.dataset.etcd : null,
    text: section.textContent,
  };
})()"#;

/// What the page's DNS section shows, or `null` while hidden: the record sets in order,
/// each member's `healthy:answers` by "name type value", each check's health, the text.
const DNS_VIEW: &str = r#"(() => {
  const section = document.getElementById('dns');
  if (!section || section.hidden) return null;
  const rows = (s) => [...section.querySelectorAll(s)];
  return {
    sets: [...new Set(rows('tr[data-record-set]').map((r) => r.dataset.recordSet))],
    members: Object.fromEntries(rows('tr[data-member]').map((r) =>
      [r.dataset.recordSet + ' ' + r.dataset.member, r.dataset.healthy + ':' + r.dataset.answers])),
    checks: Object.fromEntries(rows('tr[data-check]').map((r) => [r.dataset.check, r.dataset.healthy])),
    text: section.textContent,
  };
})()"#;

/// A zone with a simple, a failover and a weighted record set, and three health checks:
/// TCP checks of `site_a` and `site_b`, and a calculated one of both.
fn dns_config(site_a: SocketAddr, site_b: SocketAddr) -> String {
    format!(
        r#"[admin]
bind = "127.0.0.1:0"
token = "{TOKEN}"

[dns]
bind = "127.0.0.1:0"
responses_per_second = 0

[dns.zones."example.test."]
ns = ["ns1"]
ttl = "60s"
records = [
  {{ name = "@", type = "A", values = ["192.0.2.1"] }},
  {{ name = "www", type = "A", ttl = "10s", routing = "failover", members = [
    {{ values = ["192.0.2.10"], role = "primary", health_check = "site-a" }},
    {{ values = ["192.0.2.20"], role = "secondary", health_check = "site-b" }},
  ] }},
  {{ name = "api", type = "A", ttl = "10s", routing = "weighted", members = [
    {{ values = ["192.0.2.31"], weight = 3, health_check = "site-b" }},
    {{ values = ["192.0.2.32"], weight = 1, health_check = "any-site" }},
  ] }},
]

[dns.health_checks.site-a]
type = "tcp"
endpoint = "{site_a}"
interval = "1s"
timeout = "500ms"
failure_threshold = 2

[dns.health_checks.site-b]
type = "tcp"
endpoint = "{site_b}"
interval = "1s"
timeout = "500ms"
failure_threshold = 2

[dns.health_checks.any-site]
type = "calculated"
children = ["site-a", "site-b"]
healthy_threshold = 1
"#
    )
}

/// The A records of one answer to a query for `name` over UDP.
async fn dns_a(server: SocketAddr, name: &str) -> Vec<String> {
    use ballast_testkit::dns::{addresses, try_ask};
    let answer = try_ask(server, name, hickory_proto::rr::RecordType::A, WAIT).await;
    addresses(&answer.expect("a DNS answer"))
}

fn update_screenshot() -> bool {
    std::env::var_os("BALLAST_UPDATE_SCREENSHOT").is_some_and(|v| v == "1")
}

/// Where the screenshot `name` goes: the docs' images with `BALLAST_UPDATE_SCREENSHOT=1`,
/// else the temporary directory.
fn screenshot_path(name: &str) -> PathBuf {
    if update_screenshot() {
        let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/images");
        std::fs::create_dir_all(&images).unwrap();
        images.join(name)
    } else {
        std::env::temp_dir().join(format!("ballast-{}-{name}", std::process::id()))
    }
}

/// Headless Chromium with one page, spoken to over the DevTools protocol.
struct Browser {
    child: tokio::process::Child,
    _profile: tempfile::TempDir,
    page: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Browser {
    /// Starts Chromium on `url` and connects to that page's DevTools socket.
    async fn launch(url: &str) -> Browser {
        let binary = std::env::var("BALLAST_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
        let profile = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the browser {binary:?} ({e}). The dashboard test needs headless \
                     Chromium: apt-get install -y chromium (or set BALLAST_CHROMIUM)"
                )
            });
        let port = devtools_port(&mut child).await;
        let page = page_socket(port).await;
        let (page, _) = tokio_tungstenite::connect_async(page.as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the DevTools socket {page}: {e}"));
        Browser {
            child,
            _profile: profile,
            page,
            next_id: 0,
        }
    }

    /// Calls a DevTools method on the page and returns its result.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({"id": id, "method": method, "params": params});
        self.page
            .send(Message::text(command.to_string()))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.page.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method} within {WAIT:?}"))
                .unwrap_or_else(|| panic!("the browser closed the DevTools socket"))
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] != id {
                continue; // an event
            }
            assert!(reply["error"].is_null(), "{method} failed: {reply}");
            return reply["result"].clone();
        }
    }

    /// Evaluates JavaScript in the page (promises awaited) and returns its value.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression} threw: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` every 100 ms until `done` holds for its value; panics naming
    /// `what` (and the last value) after the deadline.
    async fn wait_for(
        &mut self,
        what: &str,
        expression: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_longer(what, expression, WAIT, done).await
    }

    /// [`Browser::wait_for`] with another deadline than [`WAIT`].
    async fn wait_longer(
        &mut self,
        what: &str,
        expression: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.eval(expression).await;
            if done(&value) {
                return value;
            }
            if Instant::now() >= deadline {
                let text = self.eval("document.body.innerText").await;
                panic!("timed out after {limit:?} waiting for {what}; last value {value}; the page:\n{}", text.as_str().unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page as a PNG, or only the element `selector` matches.
    async fn screenshot(&mut self, selector: Option<&str>) -> Vec<u8> {
        let mut params = json!({"format": "png", "captureBeyondViewport": true});
        if let Some(selector) = selector {
            let rect = self
                .eval(&format!(
                    "(() => {{ const r = document.querySelector({selector:?}).getBoundingClientRect(); \
                     return {{x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height, scale: 1}}; }})()"
                ))
                .await;
            params["clip"] = rect;
        }
        let result = self.call("Page.captureScreenshot", params).await;
        base64::engine::general_purpose::STANDARD
            .decode(result["data"].as_str().unwrap())
            .unwrap()
    }

    async fn close(mut self) {
        let _ = self.page.close(None).await;
        let _ = self.child.kill().await;
    }
}

/// Reads Chromium's stderr until it names its DevTools port; keeps draining it afterwards so
/// the browser never blocks on a full pipe.
async fn devtools_port(child: &mut tokio::process::Child) -> u16 {
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
            let port = line
                .strip_prefix("DevTools listening on ws://")
                .and_then(|rest| rest.split('/').next())
                .and_then(|host| host.rsplit(':').next())
                .and_then(|port| port.parse().ok());
            seen.push(line);
            if port.is_some() {
                return port;
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(port)) => {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            port
        }
        _ => panic!(
            "Chromium did not report a DevTools port within {WAIT:?}; its output:\n{}",
            seen.join("\n")
        ),
    }
}

/// The DevTools WebSocket URL of the browser's page.
async fn page_socket(port: u16) -> String {
    let devtools: SocketAddr = ([127, 0, 0, 1], port).into();
    let list = get(devtools, "/json/list").await;
    let targets: Value = serde_json::from_slice(list.body()).unwrap();
    targets
        .as_array()
        .and_then(|t| t.iter().find(|t| t["type"] == "page"))
        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        .unwrap_or_else(|| panic!("no page among the DevTools targets: {targets}"))
        .to_owned()
}
