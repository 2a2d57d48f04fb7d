//! Bodies stream through in both directions with memory that does not grow with them.

use std::path::Path;

use ballast_testkit::client::{count_body, send_streaming};
use ballast_testkit::{web_app_config, Backend, BallastProcess, GeneratedBody};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

const GIB: u64 = 1 << 30;
/// Peak resident memory allowed for the whole proxy process while a GiB passes through.
const RSS_LIMIT_KIB: u64 = 96 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_up_and_down_with_bounded_memory() {
    let backend = Backend::spawn("a").await;
    let lb = BallastProcess::start(
        bin(),
        &web_app_config(&[backend.addr], "workers = 1", "", ""),
    );
    let addr = lb.addr("web");
    let before = lb.peak_rss_kib();

    // Upload: the client streams a GiB; the backend counts what arrives.
    let upload = http::Request::post("/upload")
        .header("host", addr.to_string())
        .body(GeneratedBody::new(GIB))
        .unwrap();
    let response = send_streaming(addr, upload).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json["body_bytes"], GIB,
        "every uploaded byte reaches the target"
    );

    // Download: the backend streams a GiB; the client counts without keeping it.
    let download = http::Request::get(format!("/download?bytes={GIB}"))
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = send_streaming(addr, download).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(count_body(response.into_body()).await.unwrap(), GIB);

    let peak = lb.peak_rss_kib();
    assert!(
        peak < RSS_LIMIT_KIB,
        "peak RSS {peak} KiB (started at {before} KiB) must stay far below the body size"
    );
}
