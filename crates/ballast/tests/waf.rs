//! The web application firewall end to end: `[waf]` sets on listeners and rules, the
//! managed `ballast-core` set, each with honest requests that must pass and hostile ones
//! that must not, seen in the access log and the metrics.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::{get, raw, H2};
use ballast_testkit::{access_log_lines, Backend, BallastProcess};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

const WAIT: Duration = Duration::from_secs(30);

fn config(app: SocketAddr, log: &Path) -> String {
    format!(
        r#"[admin]
bind = "127.0.0.1:0"

[access_log]
path = "{log}"

[target_groups.app]
targets = ["{app}"]

[rate_limits.signin]
per_minute = 2

[waf.shop]
block_response = {{ status = 403, content_type = "application/json", body = "{{\"blocked\": true}}" }}
managed = ["ballast-core"]
rules = [
  {{ name = "office", priority = 1, action = "allow", conditions = [{{ source_ip = ["192.0.2.0/24"] }}] }},
  {{ name = "signin-rate", priority = 2, action = "block", conditions = [{{ field = "path", prefix = "/signin" }}, {{ rate_limit = "signin" }}] }},
  {{ name = "beta-count", priority = 5, action = "count", conditions = [{{ field = "path", prefix = "/beta" }}] }},
  {{ name = "no-bots", priority = 10, action = "block", conditions = [{{ field = "header:user-agent", transforms = ["lowercase"], contains = "badbot" }}] }},
]

[listeners.shop]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}
waf = "shop"

[listeners.core]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}
waf = "ballast-core"

[listeners.ruled]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}
rules = [{{ priority = 1, conditions = {{ path = ["/api/*"] }}, action = {{ forward = "app" }}, waf = "ballast-core" }}]
"#,
        log = log.display()
    )
}

async fn request(addr: SocketAddr, head: &str, body: &str) -> (u16, String) {
    let bytes = format!(
        "{head}Host: shop.example\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let reply = raw(addr, bytes.as_bytes(), WAIT).await;
    (reply.status().unwrap_or(0), reply.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_requests_pass_and_attacks_are_blocked_logged_and_counted() {
    let app = Backend::spawn("app").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let lb = BallastProcess::start(bin(), &config(app.addr, &log));
    let (shop, core) = (lb.addr("shop"), lb.addr("core"));
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";

    // Honest requests pass, on both listeners.
    for addr in [shop, core] {
        for (head, body) in [
            ("GET /items?id=42&sort=price HTTP/1.1\r\n".to_owned(), ""),
            ("GET /search?q=rock+%26+roll HTTP/1.1\r\n".to_owned(), ""),
            (
                format!("POST /profile HTTP/1.1\r\n{form}"),
                "name=Conan+O%27Brien&city=Dublin",
            ),
            (
                "POST /api/orders HTTP/1.1\r\nContent-Type: application/json\r\n".to_owned(),
                r#"{"note": "ship before 5 o'clock"}"#,
            ),
        ] {
            let (status, text) = request(addr, &head, body).await;
            assert_eq!(status, 200, "{head}{body}: {text}");
        }
    }
    let passed = app.hits();
    assert_eq!(passed, 8);

    // Attacks are blocked before any target sees them.
    let attacks = [
        (
            "GET /items?id=1%27%20OR%20%271%27%3D%271 HTTP/1.1\r\n".to_owned(),
            "",
            "ballast-core:sqli-args",
        ),
        (
            "GET /search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E HTTP/1.1\r\n".to_owned(),
            "",
            "ballast-core:xss-args",
        ),
        (
            format!("POST /login HTTP/1.1\r\n{form}"),
            "user=admin&pass=x%27+or+%271%27%3D%271",
            "ballast-core:sqli-body",
        ),
        (
            "GET /static/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\n".to_owned(),
            "",
            "ballast-core:traversal-path",
        ),
        (
            "GET / HTTP/1.1\r\nUser-Agent: sqlmap/1.7\r\n".to_owned(),
            "",
            "ballast-core:scanners",
        ),
    ];
    for (head, body, rule) in &attacks {
        let (status, text) = request(core, head, body).await;
        assert_eq!(status, 403, "{head}{body}: {text}");
        assert!(text.ends_with("Forbidden\n"), "{text}");
        let (status, text) = request(shop, head, body).await;
        assert_eq!(status, 403, "{rule}: {text}");
        assert!(
            text.ends_with(r#"{"blocked": true}"#),
            "the set's own block response: {text}"
        );
    }
    // The set's own rules: a block, and a count that lets the request through.
    let (status, _) = request(shop, "GET / HTTP/1.1\r\nUser-Agent: BadBot/2\r\n", "").await;
    assert_eq!(status, 403);
    let (status, _) = request(shop, "GET /beta/x HTTP/1.1\r\n", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        app.hits(),
        passed + 1,
        "only the counted request reached the target"
    );
    // A rate-based rule: the third sign-in within the minute is blocked.
    for expected in [200, 200, 403] {
        let (status, _) = request(shop, "GET /signin HTTP/1.1\r\n", "").await;
        assert_eq!(status, expected);
    }

    // Chunked bodies are decoded and inspected too.
    for (body, status) in [
        ("user=admin&pass=x%27+or+%271%27%3D%271", 403),
        ("name=Conan+O%27Brien&city=Dublin", 200),
    ] {
        let chunked = format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
            &body[..5],
            body.len() - 5,
            &body[5..]
        );
        let reply = raw(core, chunked.as_bytes(), WAIT).await;
        assert_eq!(reply.status(), Some(status), "{body}: {}", reply.text());
    }

    // Over HTTP/2 too (prior knowledge on the cleartext port).
    let mut h2 = H2::connect(core).await;
    let blocked = h2.get(core, "/items?id=1%27%20OR%20%271%27%3D%271").await;
    assert_eq!(blocked.status(), 403);
    let fine = h2.get(core, "/items?id=42").await;
    assert_eq!(fine.status(), 200);

    // A rule's set applies to the requests that rule matches.
    let ruled = lb.addr("ruled");
    assert_eq!(
        get(ruled, "/api/items?id=1%27%20OR%20%271%27%3D%271")
            .await
            .status(),
        403
    );
    assert_eq!(
        get(ruled, "/other?id=1%27%20OR%20%271%27%3D%271")
            .await
            .status(),
        200
    );

    // Every decision is in the access log with the rule that made it.
    ballast_testkit::wait_until("access log lines", Duration::from_secs(10), || {
        access_log_lines(&log).len() >= 8 + 10 + 2 + 3 + 2 + 2 + 2
    })
    .await;
    let lines = access_log_lines(&log);
    let blocked: Vec<_> = lines
        .iter()
        .filter(|l| l["action"] == "waf-block")
        .collect();
    assert_eq!(blocked.len(), 10 + 1 + 1 + 1 + 1 + 1, "{lines:#?}");
    for l in &blocked {
        assert_eq!(l["waf_action"], "block", "{l}");
        assert_eq!(l["error_reason"], "Client.WafBlocked", "{l}");
        assert!(l["target"].is_null(), "{l}");
    }
    for (_, _, rule) in &attacks {
        assert!(blocked.iter().any(|l| l["waf_rule"] == *rule), "{rule}");
    }
    let counted: Vec<_> = lines
        .iter()
        .filter(|l| l["waf_action"] == "count")
        .collect();
    assert_eq!(counted.len(), 1);
    assert_eq!(counted[0]["waf_rule"], "beta-count");
    assert_eq!(counted[0]["status"], 200);

    // And counted per rule.
    let admin = AdminClient::new(lb.admin_addr());
    let sample = |set: &str, rule: &str, action: &str| {
        format!(
            "ballast_waf_rule_matches_total{{waf=\"{set}\",rule=\"{rule}\",action=\"{action}\"}}"
        )
    };
    assert_eq!(admin.metric(&sample("shop", "no-bots", "block")).await, 1.0);
    assert_eq!(
        admin.metric(&sample("shop", "signin-rate", "block")).await,
        1.0
    );
    assert_eq!(
        admin.metric(&sample("shop", "beta-count", "count")).await,
        1.0
    );
    assert_eq!(
        admin
            .metric(&sample("ballast-core", "ballast-core:sqli-args", "block"))
            .await,
        3.0
    );
    // And on the dashboard's endpoint, per rule in evaluation order.
    let view = admin.get("/api/v1/waf").await.json;
    let shop = view["sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "shop")
        .unwrap()
        .clone();
    let rules = shop["rules"].as_array().unwrap();
    assert_eq!(rules[0]["name"], "office");
    let no_bots = rules.iter().find(|r| r["name"] == "no-bots").unwrap();
    assert_eq!(
        (no_bots["action"].as_str(), no_bots["matches"].as_u64()),
        (Some("block"), Some(1))
    );
    assert!(shop["default_allowed"].as_u64().unwrap() >= 4);
    let page = admin.get("/").await.text;
    assert!(page.contains(r#"id="waf""#) && page.contains("/api/v1/waf"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_after_its_head_is_still_inspected() {
    let app = Backend::spawn("app").await;
    let dir = tempfile::tempdir().unwrap();
    let lb = BallastProcess::start(bin(), &config(app.addr, &dir.path().join("access.log")));
    let body = "user=admin&pass=x%27+or+%271%27%3D%271";
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(lb.addr("core"))
        .await
        .unwrap();
    stream.set_nodelay(true).unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    // The head alone is not enough to decide: Ballast waits for the body's first bytes.
    let mut probe = [0u8; 1];
    let early = tokio::time::timeout(
        Duration::from_millis(200),
        tokio::io::AsyncReadExt::read(&mut stream, &mut probe),
    )
    .await;
    assert!(early.is_err(), "answered before the body came");
    stream.write_all(body.as_bytes()).await.unwrap();
    let reply = ballast_testkit::client::read_until_closed(&mut stream, WAIT).await;
    assert_eq!(reply.status(), Some(403), "{}", reply.text());
    assert_eq!(app.hits(), 0);
}
