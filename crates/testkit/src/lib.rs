//! Test fixtures shared by every Ballast test: real parts on loopback, no mocks.
//!
//! Dev-only: no normal dependency may import this crate. It imports nothing of ours either,
//! so it tests Ballast from the outside, the way users meet it: the real binary as a child
//! process ([`BallastProcess`]), real HTTP backends ([`Backend`]), misbehaving TCP peers
//! ([`RawBackend`]), `ballast echo` processes to kill and restart ([`EchoProcess`]), tonic's
//! gRPC health server ([`GrpcHealthServer`]), WebSocket targets ([`WsBackend`],
//! [`RawSwitchBackend`]) and real clients ([`client`]); and the seeded
//! simulation runner for pure state machines ([`sim`]).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod admin;
mod backend;
pub mod client;
pub mod desync;
pub mod dns;
mod echo;
mod etcd;
mod grpc;
mod grpc_echo;
pub mod h2frame;
mod l4;
pub mod pebble;
mod process;
mod raw;
pub mod scaling;
pub mod sim;
pub mod tls;
mod ws;

pub use backend::{body_digest, Backend, BackendBuilder, GeneratedBody, Recorded, DIGEST_START};
pub use echo::{echo_instance, EchoProcess};
pub use etcd::EtcdProcess;
pub use grpc::GrpcHealthServer;
pub use grpc_echo::{GrpcEchoClient, GrpcEchoServer, Note};
pub use l4::{connect_from, echoes_from, http_status_from, TcpEcho, TlsEcho, UdpTagged};
pub use process::BallastProcess;
pub use raw::{closed_port, RawBackend, RawMode};
pub use ws::{websocket_over_h2, H2WebSocket, RawSwitchBackend, SeenHeaders, WsBackend};

use std::time::Duration;

/// `"a", "b"`: addresses as a TOML array body, for configs written in tests.
pub fn toml_targets(addrs: &[std::net::SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A config with one listener `web` on 127.0.0.1:0 forwarding to one group `app` of
/// `targets`. `server`, `listener` and `group` are extra TOML lines for those tables.
pub fn web_app_config(
    targets: &[std::net::SocketAddr],
    server: &str,
    listener: &str,
    group: &str,
) -> String {
    format!(
        "[server]\n{server}\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\n{listener}\n[target_groups.app]\ntargets = [{}]\n{group}\n",
        toml_targets(targets)
    )
}

/// The JSON lines of an access log written so far (none when the file is not there yet).
pub fn access_log_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until `condition` holds, polling every 10 ms, or panics with `what` after `limit`.
///
/// Tests wait on conditions, never on fixed sleeps.
pub async fn wait_until<F: FnMut() -> bool>(what: &str, limit: Duration, mut condition: F) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
