//! The dashboard's routes over a real socket, against a real runtime.

use std::sync::Arc;
use std::time::Duration;

use ballast_runtime::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::AdminServer;

const CONFIG: &str = r#"
[admin]
bind = "127.0.0.1:0"

[listeners.web]
bind = "127.0.0.1:0"
default_action = { forward = "app" }

[target_groups.app]
targets = ["127.0.0.1:9"]
"#;

/// Reads from `stream` until `buffer` contains `needle` or the stream ends; false on the end.
async fn read_until(stream: &mut TcpStream, buffer: &mut Vec<u8>, needle: &str) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        if String::from_utf8_lossy(buffer).contains(needle) {
            return true;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_sends_the_state_and_ends_when_the_server_stops() {
    let config = ballast_config::parse(CONFIG).unwrap();
    let admin_config = config.admin.clone().unwrap();
    let runtime = Arc::new(Runtime::start(config).unwrap());
    let server = AdminServer::start(&admin_config, Arc::clone(&runtime)).unwrap();

    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    stream
        .write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let first = tokio::time::timeout(
        Duration::from_secs(10),
        read_until(&mut stream, &mut seen, "\"target_groups\""),
    )
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(first, "the stream ended before the first event: {text}");
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    assert!(text.contains("event: state"), "{text}");
    assert!(text.contains("\"127.0.0.1:9\""), "{text}");

    // Stopping joins the admin thread, which waits for open connections: it returns only
    // because the stream ends.
    let stopped = tokio::task::spawn_blocking(move || server.stop());
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the admin server did not stop with an event stream open")
        .unwrap();
    let ended = tokio::time::timeout(
        Duration::from_secs(5),
        read_until(&mut stream, &mut seen, "never sent"),
    )
    .await
    .expect("the event stream stayed open after the server stopped");
    assert!(!ended);
    tokio::task::spawn_blocking(move || runtime.shutdown())
        .await
        .unwrap();
}
