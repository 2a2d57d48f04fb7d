//! Metrics, access logs and trace ids, checked against traffic actually sent.

use std::path::Path;
use std::time::Duration;

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::H1;
use ballast_testkit::{access_log_lines, Backend, BallastProcess};
use bytes::Bytes;
use http_body_util::Full;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn config(app: std::net::SocketAddr, log: &Path) -> String {
    format!(
        r#"[admin]
bind = "127.0.0.1:0"

[access_log]
path = "{log}"

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}
rules = [
  {{ priority = 5, conditions = {{ path = ["/teapot"] }}, action = {{ fixed_response = {{ status = 418, body = "short and stout" }} }} }},
  {{ priority = 7, conditions = {{ path = ["/empty*"] }}, action = {{ forward = "empty" }} }},
]

[target_groups.app]
targets = ["{app}"]

[target_groups.empty]
targets = []
"#,
        log = log.display()
    )
}

async fn wait_for_lines(path: &Path, n: usize) -> Vec<serde_json::Value> {
    ballast_testkit::wait_until("access log lines", Duration::from_secs(10), || {
        access_log_lines(path).len() >= n
    })
    .await;
    access_log_lines(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_traffic_sent() {
    let app = Backend::spawn("app").await;
    let dir = tempfile::tempdir().unwrap();
    let lb = BallastProcess::start(bin(), &config(app.addr, &dir.path().join("access.log")));
    let admin = AdminClient::new(lb.admin_addr());
    let addr = lb.addr("web");
    let mut body_bytes = 0;
    let mut client = H1::connect(addr).await;
    for _ in 0..30 {
        let r = client.get(addr, "/hello").await;
        assert_eq!(r.status(), 200);
        body_bytes += r.body().len();
    }
    for _ in 0..4 {
        assert_eq!(client.get(addr, "/teapot").await.status(), 418);
        body_bytes += "short and stout".len();
    }
    for _ in 0..3 {
        let r = client.get(addr, "/empty").await;
        assert_eq!(r.status(), 503);
        body_bytes += r.body().len();
    }
    let upload = http::Request::post("/upload")
        .header("host", addr.to_string())
        .body(Full::new(Bytes::from(vec![b'x'; 1000])))
        .unwrap();
    let r = client.send(upload).await.unwrap();
    body_bytes += r.body().len();

    let m = |s: &str| {
        let admin = admin.clone();
        let s = s.to_owned();
        async move { admin.metric(&s).await }
    };
    // Counters are written when a response ends; the last one may land a moment later.
    let expected_total = 38.0;
    for _ in 0..100 {
        if m("ballast_listener_requests_total{listener=\"web\"}").await == expected_total
            && m("ballast_listener_responses_total{listener=\"web\",code=\"200\"}").await == 31.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        m("ballast_listener_requests_total{listener=\"web\"}").await,
        expected_total
    );
    assert_eq!(
        m("ballast_listener_responses_total{listener=\"web\",code=\"200\"}").await,
        31.0
    );
    assert_eq!(
        m("ballast_listener_responses_total{listener=\"web\",code=\"418\"}").await,
        4.0
    );
    assert_eq!(
        m("ballast_listener_responses_by_class_total{listener=\"web\",class=\"5xx\"}").await,
        3.0
    );
    assert_eq!(
        m("ballast_listener_errors_total{listener=\"web\",code=\"503\"}").await,
        3.0
    );
    assert_eq!(
        m("ballast_listener_fixed_responses_total{listener=\"web\"}").await,
        4.0
    );
    assert_eq!(
        m("ballast_rule_matches_total{listener=\"web\",rule=\"5\"}").await,
        4.0
    );
    assert_eq!(
        m("ballast_rule_matches_total{listener=\"web\",rule=\"7\"}").await,
        3.0
    );
    assert_eq!(
        m("ballast_rule_matches_total{listener=\"web\",rule=\"default\"}").await,
        31.0
    );
    assert_eq!(
        m("ballast_listener_connections_total{listener=\"web\"}").await,
        1.0
    );
    assert_eq!(
        m("ballast_listener_connections_active{listener=\"web\"}").await,
        1.0
    );
    assert_eq!(
        m("ballast_listener_received_bytes_total{listener=\"web\"}").await,
        1000.0
    );
    assert_eq!(
        m("ballast_listener_sent_bytes_total{listener=\"web\"}").await,
        body_bytes as f64
    );
    assert_eq!(
        m("ballast_target_group_requests_total{target_group=\"app\"}").await,
        31.0
    );
    assert_eq!(
        m("ballast_target_group_response_time_seconds_count{target_group=\"app\"}").await,
        31.0
    );
    assert_eq!(
        m("ballast_target_group_response_time_seconds_bucket{target_group=\"app\",le=\"+Inf\"}")
            .await,
        31.0
    );
    let target = format!("target_group=\"app\",target=\"{}\"", app.addr);
    assert_eq!(
        m(&format!("ballast_target_requests_total{{{target}}}")).await,
        31.0
    );
    assert_eq!(
        m(&format!(
            "ballast_target_responses_total{{{target},class=\"2xx\"}}"
        ))
        .await,
        31.0
    );
    assert_eq!(m(&format!("ballast_target_healthy{{{target}}}")).await, 1.0);
    assert_eq!(
        m("ballast_target_group_healthy_targets{target_group=\"app\"}").await,
        1.0
    );
    assert_eq!(app.hits(), 31);
    // Labels are bounded: no path or client address appears in any series.
    let text = admin.get("/metrics").await.text;
    assert!(
        !text.contains("/hello") && !text.contains("upload"),
        "raw paths in labels"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_lines_carry_every_field_and_rotate_on_sigusr1() {
    let app = Backend::spawn("app").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let lb = BallastProcess::start(bin(), &config(app.addr, &log));
    let addr = lb.addr("web");

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let client_port = stream.local_addr().unwrap().port();
    drop(stream);
    // A request with a trace: the target gets the same trace id; a request id is added.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let request = http::Request::get("/items?id=7")
        .header("host", addr.to_string())
        .header("user-agent", "telemetry-test/1.0")
        .header("traceparent", traceparent)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut client = H1::connect(addr).await;
    let response = client.send(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body_len = response.body().len() as u64;
    let seen = app.recorded().pop().unwrap();
    assert_eq!(seen.headers["traceparent"], traceparent);
    let request_id = seen.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(request_id.len(), 32);

    let lines = wait_for_lines(&log, 1).await;
    let line = &lines[0];
    assert_eq!(line["listener"], "web");
    let client_addr: std::net::SocketAddr = line["client"].as_str().unwrap().parse().unwrap();
    assert_eq!(client_addr.ip().to_string(), "127.0.0.1");
    assert_ne!(client_addr.port(), client_port, "a different connection");
    assert_eq!(line["target"], app.addr.to_string());
    assert_eq!(line["status"], 200);
    assert_eq!(line["target_status"], 200);
    assert_eq!(line["received_bytes"], 0);
    assert_eq!(line["sent_bytes"], body_len);
    assert_eq!(
        line["request"],
        format!("GET http://{addr}/items?id=7 HTTP/1.1")
    );
    assert_eq!(line["user_agent"], "telemetry-test/1.0");
    assert_eq!(line["target_group"], "app");
    assert_eq!(line["rule"], "default");
    assert_eq!(line["action"], "forward");
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(line["request_id"], request_id.as_str());
    assert_eq!(line["error_reason"], serde_json::Value::Null);
    assert_eq!(line["tls_protocol"], serde_json::Value::Null);
    for key in [
        "request_processing_time",
        "target_processing_time",
        "response_processing_time",
    ] {
        let t = line[key].as_f64().unwrap();
        assert!((0.0..10.0).contains(&t), "{key} = {t}");
    }
    assert!(line["time"].as_str().unwrap().ends_with('Z'));

    // No trace from the client: Ballast starts one and logs its id.
    let response = client.get(addr, "/fresh").await;
    assert_eq!(response.status(), 200);
    let seen = app.recorded().pop().unwrap();
    let started = seen.headers["traceparent"].to_str().unwrap().to_owned();
    assert_eq!(started.len(), 55);
    let lines = wait_for_lines(&log, 2).await;
    assert_eq!(lines[1]["trace_id"], &started[3..35]);

    // A Ballast-generated error has its reason and no target status.
    assert_eq!(client.get(addr, "/empty").await.status(), 503);
    let lines = wait_for_lines(&log, 3).await;
    assert_eq!(lines[2]["status"], 503);
    assert_eq!(lines[2]["target_status"], serde_json::Value::Null);
    assert_eq!(lines[2]["error_reason"], "Group.NoTarget");
    assert_eq!(lines[2]["rule"], "7");
    assert_eq!(lines[2]["target_processing_time"], -1.0);

    // Rotation: move the file away, SIGUSR1, the next line goes to a new file.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    lb.signal("USR1");
    lb.wait_for_log("access log reopened", Duration::from_secs(5));
    assert_eq!(client.get(addr, "/after").await.status(), 200);
    let fresh = wait_for_lines(&log, 1).await;
    assert!(fresh[0]["request"].as_str().unwrap().contains("/after"));
    assert_eq!(access_log_lines(&rotated).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_parser_refuses_are_counted_as_ballast_errors() {
    let app = Backend::spawn("app").await;
    let dir = tempfile::tempdir().unwrap();
    let lb = BallastProcess::start(bin(), &config(app.addr, &dir.path().join("access.log")));
    let admin = AdminClient::new(lb.admin_addr());
    let addr = lb.addr("web");
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(80_000)
    );
    let reply = ballast_testkit::client::raw(addr, big.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(reply.status(), Some(431));
    let reply =
        ballast_testkit::client::raw(addr, b"GARBAGE\r\n\r\n", Duration::from_secs(5)).await;
    assert_eq!(reply.status(), Some(400));
    let errors = |code: &str| {
        let (admin, code) = (admin.clone(), code.to_owned());
        async move {
            admin
                .metric(&format!(
                    "ballast_listener_errors_total{{listener=\"web\",code=\"{code}\"}}"
                ))
                .await
        }
    };
    for _ in 0..100 {
        if errors("431").await == 1.0 && errors("400").await == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(errors("431").await, 1.0);
    assert_eq!(errors("400").await, 1.0);
    assert_eq!(app.hits(), 0);
}
