//! The response timeout counts from the end of the request body; a client that stops
//! sending its body is timed out with 408.

use std::path::Path;
use std::time::Duration;

use ballast_testkit::client::read_until_closed;
use ballast_testkit::{web_app_config, Backend, BallastProcess};
use tokio::io::AsyncWriteExt;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn start(backend: &Backend, response_timeout: &str) -> BallastProcess {
    BallastProcess::start(
        bin(),
        &web_app_config(
            &[backend.addr],
            "",
            "",
            &format!("response_timeout = \"{response_timeout}\""),
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_does_not_eat_into_the_response_timeout() {
    // The upload takes 3 s and the target answers 0.2 s after it ends: more than the 2.5 s
    // response timeout in all, but the target was well within its time (a 2.3 s margin for
    // a busy machine, where the old 1 s timeout and 0.6 s delay left 0.4 s).
    let backend = Backend::builder("a")
        .delay(Duration::from_millis(200))
        .spawn()
        .await;
    let lb = start(&backend, "2500ms");
    let mut stream = tokio::net::TcpStream::connect(lb.addr("web"))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        stream.write_all(b"ab").await.unwrap();
    }
    let reply = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(reply.text().starts_with("HTTP/1.1 200"), "{}", reply.text());
    assert!(
        reply.text().contains("\"body_bytes\":10"),
        "{}",
        reply.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_sending_its_body_gets_408() {
    let backend = Backend::spawn("a").await;
    let lb = start(&backend, "1s");
    let mut stream = tokio::net::TcpStream::connect(lb.addr("web"))
        .await
        .unwrap();
    stream
        .write_all(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        .await
        .unwrap();
    let reply = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(reply.text().starts_with("HTTP/1.1 408"), "{}", reply.text());
    assert!(reply.closed);
    assert_eq!(backend.hits(), 0);
}
