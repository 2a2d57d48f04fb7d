//! Listener rules end to end: every condition kind and every action, through real sockets,
//! against the real binary.

use std::net::SocketAddr;
use std::path::Path;

use ballast_testkit::client::H1;
use ballast_testkit::{Backend, BallastProcess};
use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::Full;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

struct Setup {
    lb: BallastProcess,
    _backends: Vec<Backend>,
}

async fn setup() -> Setup {
    let names = [
        "default",
        "admin",
        "api",
        "canary",
        "beta",
        "internal",
        "behind_proxy",
    ];
    let mut backends = Vec::new();
    let mut groups = String::new();
    for name in names {
        let backend = Backend::spawn(name).await;
        groups.push_str(&format!(
            "[target_groups.{name}]\ntargets = [\"{}\"]\n",
            backend.addr
        ));
        backends.push(backend);
    }
    let config = format!(
        r##"
[server]
workers = 1

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ forward = "default" }}
trusted_proxies = ["127.0.0.0/8"]

[[listeners.web.rules]]
priority = 10
conditions = {{ host = ["admin.example.com", "*.admin.example.com"] }}
action = {{ forward = "admin" }}

[[listeners.web.rules]]
priority = 20
conditions = {{ path = ["/api/*"], method = ["GET", "POST"] }}
action = {{ forward = "api" }}

[[listeners.web.rules]]
priority = 30
conditions = {{ header = [{{ name = "X-Canary", values = ["on", "y*"] }}] }}
action = {{ forward = "canary" }}

[[listeners.web.rules]]
priority = 40
conditions = {{ method = ["DELETE"] }}
action = {{ fixed_response = {{ status = 405, body = "no deletes here" }} }}

[[listeners.web.rules]]
priority = 50
conditions = {{ query = [{{ key = "beta", values = ["1", "yes"] }}] }}
action = {{ forward = "beta" }}

[[listeners.web.rules]]
priority = 60
conditions = {{ path = ["/internal/*"], source_ip = ["127.0.0.0/8"] }}
action = {{ forward = "internal" }}

[[listeners.web.rules]]
priority = 65
conditions = {{ source_ip = ["203.0.113.0/24"] }}
action = {{ forward = "behind_proxy" }}

[[listeners.web.rules]]
priority = 70
conditions = {{ path = ["/old/*"] }}
action = {{ redirect = {{ status = 301, path = "/new/#{{path}}" }} }}

[[listeners.web.rules]]
priority = 80
conditions = {{ path = ["/login"] }}
action = {{ redirect = {{ status = 302, protocol = "https", port = "443" }} }}

[[listeners.web.rules]]
priority = 90
conditions = {{ path = ["/health"] }}
action = {{ fixed_response = {{ status = 200, content_type = "application/json", body = "{{\"ok\":true}}" }} }}

{groups}
"##
    );
    let lb = BallastProcess::start(bin(), &config);
    Setup {
        lb,
        _backends: backends,
    }
}

async fn send(
    addr: SocketAddr,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> Response<Bytes> {
    let mut req = Request::builder().method(method).uri(uri);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req = req.header("host", "app.example.com");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    H1::connect(addr)
        .await
        .send(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap()
}

/// Method, URI, extra headers, and the group expected to answer.
type Case = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

fn served_by(response: &Response<Bytes>) -> String {
    let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    json["name"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_condition_kind_routes_to_its_group() {
    let s = setup().await;
    let addr = s.lb.addr("web");
    let cases: Vec<Case> = vec![
        ("GET", "/", vec![], "default"),
        (
            "GET",
            "/",
            vec![("host", "ADMIN.example.com:8080")],
            "admin",
        ),
        (
            "GET",
            "/api/x",
            vec![("host", "eu.admin.example.com")],
            "admin",
        ),
        ("GET", "/api/users?id=1", vec![], "api"),
        // Rules see the normalised path: no bypass by encoding or dot segments.
        ("GET", "/%61pi/users", vec![], "api"),
        ("GET", "/x/../api/users", vec![], "api"),
        ("GET", "//api/users", vec![], "api"),
        ("GET", "/", vec![("host", "admin.example.com.")], "admin"),
        (
            "GET",
            "/",
            vec![("host", "a.b.c.d.e.f.g.h.i.j.admin.example.com")],
            "admin",
        ),
        ("PUT", "/api/users", vec![], "default"),
        ("GET", "/api", vec![], "default"),
        ("GET", "/x", vec![("x-canary", "YES")], "canary"),
        ("GET", "/x", vec![("x-canary", "no")], "default"),
        ("GET", "/x?beta=yes&a=1", vec![], "beta"),
        ("GET", "/x?beta=0", vec![], "default"),
        ("GET", "/x?alpha=1", vec![], "default"),
        ("GET", "/internal/metrics", vec![], "internal"),
        (
            "GET",
            "/x",
            vec![("x-forwarded-for", "203.0.113.7")],
            "behind_proxy",
        ),
        (
            "GET",
            "/x",
            vec![("x-forwarded-for", "203.0.113.7, 198.51.100.1")],
            "default",
        ),
    ];
    for (method, uri, headers, expected) in cases {
        let response = send(addr, method, uri, &headers).await;
        assert_eq!(response.status(), 200, "{method} {uri} {headers:?}");
        assert_eq!(served_by(&response), expected, "{method} {uri} {headers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_and_fixed_responses_are_answered_by_ballast() {
    let s = setup().await;
    let addr = s.lb.addr("web");
    let port = addr.port();

    let moved = send(addr, "GET", "/old/page?a=1", &[]).await;
    assert_eq!(moved.status(), 301);
    assert_eq!(
        moved.headers()[header::LOCATION],
        format!("http://app.example.com:{port}/new/old/page?a=1")
    );
    let login = send(addr, "GET", "/login", &[("host", "app.example.com:8080")]).await;
    assert_eq!(login.status(), 302);
    assert_eq!(
        login.headers()[header::LOCATION],
        "https://app.example.com/login"
    );

    let health = send(addr, "GET", "/health", &[]).await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(health.body(), &b"{\"ok\":true}"[..]);
    let delete = send(addr, "DELETE", "/anything", &[]).await;
    assert_eq!(delete.status(), 405);
    assert_eq!(delete.body(), &b"no deletes here"[..]);
    assert_eq!(delete.headers()[header::CONTENT_TYPE], "text/plain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_host_headers_are_refused_before_routing() {
    let s = setup().await;
    let addr = s.lb.addr("web");
    let reply = ballast_testkit::client::raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: app.example.com\r\nHost: admin.example.com\r\n\r\n",
        std::time::Duration::from_secs(5),
    )
    .await;
    assert_eq!(reply.status(), Some(400), "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_rule_is_refused_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = { forward = \"app\" }\n[[listeners.web.rules]]\npriority = 5\nconditions = { source_ip = [\"10.0.0.0/33\"] }\naction = { forward = \"app\" }\n[target_groups.app]\n",
    )
    .unwrap();
    let output = std::process::Command::new(bin())
        .args(["check", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "listeners.web.rules[0].conditions.source_ip[0]: invalid value \"10.0.0.0/33\""
        ),
        "{stderr}"
    );
}
