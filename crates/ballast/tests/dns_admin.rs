//! The DNS server as the admin API shows it, through the real binary: `GET /api/v1/dns`
//! follows a failover record set as its primary's TCP endpoint stops (members' health,
//! answer counts, the health check's transitions), `/metrics` carries the DNS series with
//! the counts of the queries the test sent, every DNS series is documented in
//! docs/metrics.md, and without `[dns]` the endpoint answers 404 in the API's envelope.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::get;
use ballast_testkit::dns::{addresses, ask, dns_addr, Endpoint};
use ballast_testkit::BallastProcess;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::Value;

const TOKEN: &str = "dns-admin-test-token-0123456789";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn config(primary: SocketAddr) -> String {
    format!(
        r#"[admin]
bind = "127.0.0.1:0"
token = "{TOKEN}"

[dns]
bind = "127.0.0.1:0"
responses_per_second = 0

[dns.zones."example.test."]
ns = ["ns1"]
ttl = "30s"
records = [
  {{ name = "@", type = "A", values = ["192.0.2.1"] }},
  {{ name = "site", type = "A", ttl = "5s", routing = "failover", members = [
    {{ values = ["192.0.2.10"], role = "primary", health_check = "primary" }},
    {{ values = ["192.0.2.20"], role = "secondary" }},
  ] }},
]

[dns.health_checks.primary]
type = "tcp"
endpoint = "{primary}"
interval = "1s"
timeout = "500ms"
failure_threshold = 2
"#
    )
}

/// Record set `name` (type A) of the status's only zone.
fn record_set<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["zones"][0]["record_sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name && s["type"] == "A")
        .unwrap_or_else(|| panic!("no record set {name} A in {status}"))
}

/// The value of the sample `series` (`name{labels}` exactly as rendered) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_metrics_follow_a_failover_record_set() {
    let started = Instant::now();
    let mut primary = Endpoint::start(None).await;
    let ballast = BallastProcess::start(bin(), &config(primary.address));
    let server = dns_addr(&ballast);
    let admin_addr = ballast.admin_addr();
    let admin = AdminClient::with_token(admin_addr, TOKEN);

    // The token guards it; the dashboard's query token works too.
    assert_eq!(get(admin_addr, "/api/v1/dns").await.status(), 401);
    let by_query = get(admin_addr, &format!("/api/v1/dns?token={TOKEN}")).await;
    assert_eq!(by_query.status(), 200);
    // A new check counts as healthy at once; its first verdict (from `initial` to healthy)
    // is its first transition.
    let first_verdict = wait_for_status(&admin, "the check's first verdict", |status| {
        status["health_checks"][0]["transitions"] == 1
    })
    .await;
    assert_eq!(first_verdict["health_checks"][0]["healthy"], true);

    // Three answers from the primary, a NODATA (AAAA) and an NXDOMAIN.
    for _ in 0..3 {
        let answer = ask(server, "site.example.test.", RecordType::A).await;
        assert_eq!(addresses(&answer), ["192.0.2.10"]);
    }
    let nodata = ask(server, "site.example.test.", RecordType::AAAA).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    let missing = ask(server, "nope.example.test.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);

    let status = admin.get("/api/v1/dns").await;
    assert_eq!(status.status, 200, "{}", status.text);
    let status = status.json;
    assert_eq!(status["address"], server.to_string());
    assert_eq!(status["zones"][0]["origin"], "example.test.");
    let site = record_set(&status, "site.example.test.");
    assert_eq!(site["routing"], "failover");
    assert_eq!(site["ttl"], 5);
    assert!(site["last_answer_at"].is_string(), "{site}");
    let (first, second) = (&site["members"][0], &site["members"][1]);
    assert_eq!(first["role"], "primary");
    assert_eq!(first["values"], serde_json::json!(["192.0.2.10"]));
    assert_eq!(first["health_check"], "primary");
    assert_eq!(first["healthy"], true);
    assert_eq!(first["answers"], 3, "{site}");
    assert_eq!(first["in_last_answer"], true);
    assert_eq!(second["in_last_answer"], false);
    assert_eq!(second["role"], "secondary");
    assert_eq!(second["health_check"], Value::Null);
    assert_eq!(second["answers"], 0);
    let apex = record_set(&status, "example.test.");
    assert_eq!(apex["routing"], "simple");
    assert_eq!(apex["ttl"], 30);
    assert_eq!(apex["last_answer_at"], Value::Null, "never asked: {apex}");
    let check = &status["health_checks"][0];
    assert_eq!(check["name"], "primary");
    assert_eq!(check["kind"], "endpoint");
    assert_eq!(check["healthy"], true);
    assert_eq!(check["transitions"], 1);
    assert_eq!(status["queries"]["A"], 4);
    assert_eq!(status["queries"]["AAAA"], 1);
    assert_eq!(status["responses"]["NXDOMAIN"], 1);
    assert_eq!(status["responses"]["NOERROR"], 4);

    let text = admin.get("/metrics").await.text;
    for (series, value) in [
        ("ballast_dns_queries_total{type=\"A\"}", 4.0),
        ("ballast_dns_queries_total{type=\"AAAA\"}", 1.0),
        ("ballast_dns_queries_total{type=\"MX\"}", 0.0),
        ("ballast_dns_responses_total{rcode=\"NOERROR\"}", 4.0),
        ("ballast_dns_responses_total{rcode=\"NXDOMAIN\"}", 1.0),
        ("ballast_dns_responses_total{rcode=\"REFUSED\"}", 0.0),
        ("ballast_dns_tcp_queries_total", 0.0),
        ("ballast_dns_truncated_total", 0.0),
        ("ballast_dns_rate_limited_total{action=\"slip\"}", 0.0),
        ("ballast_dns_rate_limited_total{action=\"drop\"}", 0.0),
        ("ballast_dns_health_check_healthy{check=\"primary\"}", 1.0),
        (
            "ballast_dns_health_check_transitions_total{check=\"primary\"}",
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    assert_dns_series_documented(&text);

    // The primary's endpoint stops: after two failed checks (1 s apart) the API shows the
    // primary unhealthy, and the secondary is answered.
    primary.stop().await;
    let stopped = Instant::now();
    let status = wait_for_status(&admin, "the primary unhealthy", |status| {
        record_set(status, "site.example.test.")["members"][0]["healthy"] == false
    })
    .await;
    println!(
        "primary unhealthy in the API {:?} after the stop",
        stopped.elapsed()
    );
    assert_eq!(status["health_checks"][0]["healthy"], false);
    assert_eq!(status["health_checks"][0]["transitions"], 2);
    let answer = ask(server, "site.example.test.", RecordType::A).await;
    assert_eq!(addresses(&answer), ["192.0.2.20"]);
    let status = admin.get("/api/v1/dns").await.json;
    let site = record_set(&status, "site.example.test.");
    assert_eq!(site["members"][0]["answers"], 3, "{site}");
    assert_eq!(site["members"][1]["answers"], 1, "{site}");
    assert_eq!(site["members"][0]["in_last_answer"], false, "{site}");
    assert_eq!(site["members"][1]["in_last_answer"], true, "{site}");
    assert_eq!(site["members"][1]["healthy"], true);

    let text = admin.get("/metrics").await.text;
    for (series, value) in [
        ("ballast_dns_queries_total{type=\"A\"}", 5.0),
        ("ballast_dns_responses_total{rcode=\"NOERROR\"}", 5.0),
        ("ballast_dns_health_check_healthy{check=\"primary\"}", 0.0),
        (
            "ballast_dns_health_check_transitions_total{check=\"primary\"}",
            2.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    println!("test took {:?}", started.elapsed());
}

/// Polls `GET /api/v1/dns` until `done` holds for its answer, which it returns; panics
/// naming `what` after 20 s (an endpoint check's verdict takes two checks 1 s apart).
async fn wait_for_status(admin: &AdminClient, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let limit = Duration::from_secs(20);
    let started = Instant::now();
    loop {
        let status = admin.get("/api/v1/dns").await.json;
        if done(&status) {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every `ballast_dns_*` family `/metrics` rendered has a row in docs/metrics.md.
fn assert_dns_series_documented(text: &str) {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md");
    let docs = std::fs::read_to_string(docs).unwrap();
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .filter(|name| name.starts_with("ballast_dns_"))
        .collect();
    assert!(families.len() >= 7, "{families:?}");
    for name in families {
        assert!(
            docs.contains(&format!("| `{name}` |")),
            "{name} is not in docs/metrics.md's tables"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_dns_the_api_answers_404_and_metrics_have_no_dns_series() {
    let ballast = BallastProcess::start(bin(), "[admin]\nbind = \"127.0.0.1:0\"\n");
    let admin = AdminClient::new(ballast.admin_addr());
    let reply = admin.get("/api/v1/dns").await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert_eq!(reply.json["error"]["code"], "Admin.DnsNotConfigured");
    assert!(reply.json["error"]["message"].is_string());
    let text = admin.get("/metrics").await.text;
    assert!(!text.contains("ballast_dns_"), "{text}");
}
