//! Forwarding headers, hop-by-hop removal and Host, in both directions and from HTTP/2.

use std::path::Path;

use ballast_testkit::client::{H1, H2};
use ballast_testkit::{web_app_config, Backend, BallastProcess};
use bytes::Bytes;
use http_body_util::Full;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn start(backend: &Backend) -> BallastProcess {
    BallastProcess::start(bin(), &web_app_config(&[backend.addr], "", "", ""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_are_rewritten_as_a_load_balancer_does() {
    let backend = Backend::spawn("a").await;
    let lb = start(&backend);
    let addr = lb.addr("web");
    let req = http::Request::get("/path?q=1")
        .header("host", "example.test")
        .header("connection", "keep-alive, x-private")
        .header("x-private", "secret")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("proxy-connection", "keep-alive")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .header("x-custom", "kept")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = H1::connect(addr).await.send(req).await.unwrap();
    assert_eq!(response.status(), 200);

    let seen = &backend.recorded()[0];
    let h = &seen.headers;
    assert_eq!(h["host"], "example.test", "Host is kept");
    assert_eq!(
        h["x-forwarded-for"], "203.0.113.9, 127.0.0.1",
        "XFF appends the client"
    );
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-port"], addr.port().to_string().as_str());
    assert_eq!(h["x-custom"], "kept");
    for gone in [
        "connection",
        "x-private",
        "keep-alive",
        "te",
        "proxy-connection",
        "transfer-encoding",
    ] {
        assert!(
            !h.contains_key(gone),
            "{gone} must not reach the target: {h:?}"
        );
    }
    assert_eq!(seen.path, "/path");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_hop_by_hop_headers_are_removed() {
    let backend = Backend::spawn("a").await;
    let lb = start(&backend);
    let addr = lb.addr("web");
    let response = H1::connect(addr).await.get(addr, "/hop").await;
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["x-backend-kept"], "1");
    assert!(!h.contains_key("x-backend-secret"), "{h:?}");
    assert!(!h.contains_key("keep-alive"), "{h:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_requests_reach_targets_as_http1_with_host() {
    let backend = Backend::spawn("a").await;
    let lb = start(&backend);
    let addr = lb.addr("web");
    let response = H2::connect(addr).await.get(addr, "/over-h2").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let seen = &backend.recorded()[0];
    assert_eq!(seen.version, http::Version::HTTP_11);
    assert_eq!(seen.headers["host"], addr.to_string().as_str());
    assert_eq!(seen.path, "/over-h2");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
}
