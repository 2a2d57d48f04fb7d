//! L4 listeners and groups in operations, through the real binary: one access-log line per
//! connection, the admin API listing them with their protocol, TCP health checks keeping
//! flows off a dead target, and outlier detection ejecting a target that refuses connects.

use std::path::Path;
use std::time::Duration;

use ballast_testkit::admin::{target_series, AdminClient as Admin};
use ballast_testkit::{
    access_log_lines, closed_port, toml_targets, wait_until, BallastProcess, TcpEcho,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn tcp_config(targets: &[std::net::SocketAddr], top: &str, group: &str) -> String {
    format!(
        "{top}\n[admin]\nbind = \"127.0.0.1:0\"\n\n[listeners.db]\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ndefault_action = {{ forward = \"echo\" }}\n\n[target_groups.echo]\nprotocol = \"tcp\"\ntargets = [{}]\n{group}\n",
        toml_targets(targets)
    )
}

async fn exchange(addr: std::net::SocketAddr, payload: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(payload).await?;
    stream.shutdown().await?;
    let mut back = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut back))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    Ok(back)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_connection_gets_one_access_log_line_and_the_api_lists_l4_entries() {
    let target = TcpEcho::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let ballast = BallastProcess::start(
        bin(),
        &tcp_config(
            &[target.addr],
            &format!("[access_log]\npath = \"{}\"", log.display()),
            "",
        ),
    );
    let addr = ballast.addr("db");
    assert_eq!(exchange(addr, &[5u8; 3000]).await.unwrap().len(), 3000);
    let lines = || access_log_lines(&log);
    wait_until("the connection's log line", WAIT, || !lines().is_empty()).await;
    let line = &lines()[0];
    assert_eq!(line["listener"], "db", "{line}");
    assert_eq!(line["request"], "tcp", "{line}");
    assert_eq!(line["target"], target.addr.to_string(), "{line}");
    assert_eq!(line["target_group"], "echo", "{line}");
    assert_eq!(line["received_bytes"], 3000, "{line}");
    assert_eq!(line["sent_bytes"], 3000, "{line}");
    assert_eq!(line["action"], "forward", "{line}");
    assert!(line["error_reason"].is_null(), "{line}");
    assert!(
        line["request_processing_time"].as_f64().unwrap() >= 0.0,
        "{line}"
    );

    let admin = Admin::new(ballast.admin_addr());
    let listeners = admin.get("/api/v1/listeners").await;
    assert_eq!(
        listeners.json["listeners"][0]["protocol"], "tcp",
        "{}",
        listeners.text
    );
    assert_eq!(listeners.json["listeners"][0]["address"], addr.to_string());
    let group = admin.get("/api/v1/target-groups/echo").await;
    assert_eq!(group.json["protocol"], "tcp", "{}", group.text);
    assert_eq!(group.json["algorithm"], "flow_hash", "{}", group.text);
    assert_eq!(group.json["targets"][0]["state"], "healthy");
    let ended = "ballast_l4_connections_ended_total{listener=\"db\",ending=\"closed\"}";
    assert_eq!(admin.metric(ended).await, 1.0);
    // The target's own bytes and endings.
    let of_target = |name: &str, more: &str| target_series(name, "echo", target.addr, more);
    let sent = of_target("ballast_target_sent_bytes_total", "");
    let received = of_target("ballast_target_received_bytes_total", "");
    let closed = of_target(
        "ballast_target_connections_ended_total",
        ",ending=\"closed\"",
    );
    assert_eq!(admin.metric(&sent).await, 3000.0);
    assert_eq!(admin.metric(&received).await, 3000.0);
    assert_eq!(admin.metric(&closed).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_health_check_keeps_flows_off_a_dead_target() {
    let alive = TcpEcho::spawn().await;
    let dead = closed_port();
    let ballast = BallastProcess::start(
        bin(),
        &tcp_config(
            &[alive.addr, dead],
            "",
            "algorithm = \"round_robin\"\nhealth_check = { interval = \"1s\", timeout = \"500ms\", healthy_threshold = 2, unhealthy_threshold = 2 }",
        ),
    );
    ballast.wait_for_health(alive.addr, "healthy", WAIT);
    ballast.wait_for_health(dead, "unhealthy", WAIT);
    for _ in 0..10 {
        assert_eq!(exchange(ballast.addr("db"), b"up").await.unwrap(), b"up");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connects_eject_the_target_and_clients_never_notice() {
    let alive = TcpEcho::spawn().await;
    let dead = closed_port();
    let ballast = BallastProcess::start(
        bin(),
        &tcp_config(
            &[alive.addr, dead],
            "",
            "algorithm = \"round_robin\"\noutlier_detection = { consecutive_failures = 2 }",
        ),
    );
    // Every connection is answered: one that meets the dead target moves to the other.
    for _ in 0..10 {
        assert_eq!(exchange(ballast.addr("db"), b"ok").await.unwrap(), b"ok");
    }
    let ejected =
        ballast.wait_for_log("target ejected: consecutive failures on real traffic", WAIT);
    assert_eq!(ejected["target"], dead.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_family_of_an_l4_listener_and_its_targets_is_documented() {
    let target = TcpEcho::spawn().await;
    let ballast = BallastProcess::start(bin(), &tcp_config(&[target.addr], "", ""));
    assert_eq!(exchange(ballast.addr("db"), b"x").await.unwrap(), b"x");
    let text = Admin::new(ballast.admin_addr()).get("/metrics").await.text;
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md"),
    )
    .unwrap();
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(
        families.contains(&"ballast_l4_connections_ended_total")
            && families.contains(&"ballast_target_sent_bytes_total"),
        "{families:?}"
    );
    let missing: Vec<_> = families
        .into_iter()
        .filter(|name| !docs.contains(&format!("`{name}`")))
        .collect();
    assert!(missing.is_empty(), "not in docs/metrics.md: {missing:?}");
}
