//! Deferred accept (`TCP_DEFER_ACCEPT`) through the real binary, seen through
//! `max_connections = 1`: with it, a connection that has sent nothing is held by the kernel, so
//! a connection opened after it that sends its request takes the listener's one place and is
//! served. Without it the accept queue is first come, first served: the silent connection takes
//! the place and the one that speaks is closed unanswered. The key is on by default on HTTP
//! listeners, off on `tcp` ones, and a reload changes it on the running sockets.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::read_until_closed;
use ballast_testkit::{toml_targets, wait_until, web_app_config, Backend, BallastProcess, TcpEcho};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// Opens a connection that sends nothing, then one that sends `request` (and ends its side),
/// and returns what the second one got back before it was closed.
async fn speak_after_a_silent_one(addr: SocketAddr, request: &[u8]) -> (TcpStream, String) {
    let silent = TcpStream::connect(addr).await.expect("connect");
    // A connection over the limit is reset at accept, which can come before the connect
    // completes here: that is a refusal too.
    let Ok(mut speaking) = TcpStream::connect(addr).await else {
        return (silent, String::new());
    };
    // Written at once: the connection may be closed by then, which is an answer too.
    let _ = speaking.write_all(request).await;
    let _ = speaking.shutdown().await;
    let reply = read_until_closed(&mut speaking, WAIT).await;
    // Every case ends with the connection closed (a refusal, or the answer then close):
    // a read that merely timed out proves nothing.
    assert!(
        reply.closed,
        "still open after {WAIT:?}: {:?}",
        reply.text()
    );
    (silent, reply.text())
}

/// Waits until the listener has no client connection open (a silent one held by the kernel
/// is handed over about a second after it connected, or when it closes).
async fn wait_until_idle(admin: &AdminClient, listener: &str) {
    let metric = format!("ballast_listener_connections_active{{listener=\"{listener}\"}}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while admin.metric(&metric).await != 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{listener} never went idle"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the configuration has been reloaded `count` times.
async fn reloaded(lb: &BallastProcess, count: usize) {
    wait_until("the reload", WAIT, || {
        lb.events_with("configuration reloaded").len() >= count
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_listener_hands_over_connections_once_they_speak() {
    let target = Backend::spawn("app").await;
    let config = |key: &str| {
        format!(
            "[admin]\nbind = \"127.0.0.1:0\"\n{}",
            web_app_config(
                &[target.addr],
                "workers = 1",
                &format!("max_connections = 1\n{key}"),
                ""
            )
        )
    };
    let lb = BallastProcess::start(bin(), &config(""));
    let admin = AdminClient::new(lb.admin_addr());
    let addr = lb.addr("web");
    let get = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    // On by default: the request is served although a silent connection came first.
    let (silent, reply) = speak_after_a_silent_one(addr, get).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "not served: {reply:?}");
    drop(silent);
    wait_until_idle(&admin, "web").await;

    // Turned off by a reload: the silent connection takes the one place.
    lb.rewrite_config(&config("defer_accept = false"));
    reloaded(&lb, 1).await;
    let (silent, reply) = speak_after_a_silent_one(addr, get).await;
    assert!(reply.is_empty(), "served over the limit: {reply:?}");
    drop(silent);
    wait_until_idle(&admin, "web").await;

    // And on again.
    lb.rewrite_config(&config("defer_accept = true"));
    reloaded(&lb, 2).await;
    let (_silent, reply) = speak_after_a_silent_one(addr, get).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "not served: {reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_listener_accepts_at_once_unless_asked() {
    let echo = TcpEcho::spawn().await;
    let config = |key: &str| {
        format!(
            "[admin]\nbind = \"127.0.0.1:0\"\n\n[server]\nworkers = 1\n\n[listeners.db]\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\nmax_connections = 1\ndefault_action = {{ forward = \"echo\" }}\n{key}\n\n[target_groups.echo]\nprotocol = \"tcp\"\ntargets = [{}]\n",
            toml_targets(&[echo.addr])
        )
    };
    // Off by default: a server-first protocol's client would wait for nothing.
    let lb = BallastProcess::start(bin(), &config(""));
    let admin = AdminClient::new(lb.admin_addr());
    let addr = lb.addr("db");
    let (silent, reply) = speak_after_a_silent_one(addr, b"ping").await;
    assert!(reply.is_empty(), "echoed over the limit: {reply:?}");
    drop(silent);
    wait_until_idle(&admin, "db").await;

    lb.rewrite_config(&config("defer_accept = true"));
    reloaded(&lb, 1).await;
    let (_silent, reply) = speak_after_a_silent_one(addr, b"ping").await;
    assert_eq!(reply, "ping");
}
