//! A Jepsen-style check of the cluster, on loopback and bounded in time: three Ballast nodes
//! and one etcd, killed (SIGKILL), stopped (SIGTERM) and started again at random while one
//! client edits the shared configuration through the nodes' admin APIs and another sends
//! requests. Afterwards:
//!
//! - every node converges to the same configuration revision;
//! - every edit a node acknowledged (200) is there, on every node: none was lost;
//! - no request failed that a single node would have served: every failure is a request to a
//!   node that was being killed or stopped at the time.
//!
//! `CHAOS_SEED` replays a run (its seed is printed); `CHAOS_STEPS` sets how many faults.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ballast_testkit::admin::AdminClient;
use ballast_testkit::{BallastProcess, EtcdProcess};
use serde_json::json;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

const NAMES: [&str; 3] = ["a", "b", "c"];

fn node_config(etcd: &str, name: &str) -> String {
    format!(
        r#"[admin]
bind = "127.0.0.1:0"

[cluster]
etcd = ["{etcd}"]
node_name = "{name}"
lease_ttl = "2s"
timeout = "1s"

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ fixed_response = {{ status = 200, content_type = "text/plain", body = "up" }} }}
"#
    )
}

/// What the clients know of a node: its addresses while it runs, and a count bumped every
/// time it is brought down (a request that overlaps a bump is excused).
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    up: Option<(SocketAddr, SocketAddr)>,
    downs: u64,
}

type Board = Arc<Mutex<[Seen; 3]>>;

fn seen(board: &Board, i: usize) -> Seen {
    board.lock().unwrap()[i]
}

fn start(board: &Board, etcd: &str, i: usize) -> BallastProcess {
    let node = BallastProcess::start(bin(), &node_config(etcd, NAMES[i]));
    board.lock().unwrap()[i].up = Some((node.addr("web"), node.admin_addr()));
    node
}

fn bring_down(board: &Board, i: usize) {
    let mut b = board.lock().unwrap();
    b[i].up = None;
    b[i].downs += 1;
}

/// Requests `GET /` from running nodes until `stop`; (served, excused, failures).
async fn requester(board: Board, stop: Arc<AtomicBool>) -> (u64, u64, Vec<String>) {
    let (mut served, mut excused, mut failures) = (0, 0, Vec::new());
    while !stop.load(Ordering::SeqCst) {
        let i = fastrand::usize(..3);
        let before = seen(&board, i);
        let Some((web, _)) = before.up else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let answer = tokio::time::timeout(Duration::from_secs(5), async {
            let stream = tokio::net::TcpStream::connect(web).await.ok()?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .ok()?;
            tokio::spawn(conn);
            let request = http::Request::get("/")
                .header("host", "chaos")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .ok()?;
            let response = sender.send_request(request).await.ok()?;
            Some(response.status().as_u16())
        })
        .await
        .ok()
        .flatten();
        match answer {
            Some(200) => served += 1,
            _ if seen(&board, i).downs != before.downs => excused += 1,
            other => failures.push(format!("node {} answered {other:?}", NAMES[i])),
        }
    }
    (served, excused, failures)
}

/// Adds rules through running nodes' APIs until `stop` or `limit` edits; the priorities of
/// the acknowledged ones, and the other answers seen.
async fn editor(board: Board, stop: Arc<AtomicBool>, limit: u32) -> (Vec<u32>, Vec<String>) {
    let (mut acked, mut others) = (Vec::new(), Vec::new());
    for priority in 1..=limit {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let i = fastrand::usize(..3);
        if let Some((_, admin)) = seen(&board, i).up {
            let rule = json!({
                "conditions": { "path": [format!("/r{priority}")] },
                "action": { "fixed_response": { "status": 200, "content_type": "text/plain", "body": format!("r{priority}") } }
            });
            let path = format!("/api/v1/listeners/web/rules/{priority}");
            let put = async move {
                let client = AdminClient::new(admin);
                tokio::time::timeout(Duration::from_secs(10), client.put(&path, &rule)).await
            };
            // A node killed under the call leaves it unanswered (the client's H1 panics on
            // a dead connection, so the call runs in a task of its own).
            match tokio::spawn(put).await {
                Ok(Ok(reply)) if reply.status == 200 => acked.push(priority),
                Ok(Ok(reply)) => others.push(format!(
                    "{} {}",
                    reply.status,
                    reply.json["error"]["code"].as_str().unwrap_or("")
                )),
                _ => others.push("no answer".to_owned()),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (acked, others)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_converge_and_lose_no_acknowledged_edit_through_kills_and_restarts() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let steps: u32 = std::env::var("CHAOS_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    println!("CHAOS_SEED={seed} CHAOS_STEPS={steps}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut etcd = EtcdProcess::start();
    let url = etcd.url.clone();
    let board: Board = Arc::default();
    let mut nodes: Vec<Option<BallastProcess>> =
        (0..3).map(|i| Some(start(&board, &url, i))).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let requests = tokio::spawn(requester(Arc::clone(&board), Arc::clone(&stop)));
    let edits = tokio::spawn(editor(Arc::clone(&board), Arc::clone(&stop), 90));

    let started = Instant::now();
    for step in 0..steps {
        let fault = rng.usize(..5);
        let i = rng.usize(..3);
        match fault {
            // A node killed, then started again (on new ports).
            0 | 1 => {
                if let Some(node) = nodes[i].take() {
                    bring_down(&board, i);
                    node.signal(if fault == 0 { "KILL" } else { "TERM" });
                    drop(node);
                    println!(
                        "step {step}: node {} {}",
                        NAMES[i],
                        ["killed", "stopped"][fault]
                    );
                } else {
                    nodes[i] = Some(start(&board, &url, i));
                    println!("step {step}: node {} started", NAMES[i]);
                }
            }
            // etcd stopped or killed, then started again on its ports and data.
            2 | 3 => {
                if fault == 2 {
                    etcd.stop();
                } else {
                    etcd.kill();
                }
                println!("step {step}: etcd {}", ["stopped", "killed"][fault - 2]);
                tokio::time::sleep(Duration::from_millis(rng.u64(200..1500))).await;
                etcd.restart();
                println!("step {step}: etcd back");
            }
            // A quiet moment.
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(300..1200))).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (served, excused, failures) = requests.await.unwrap();
    let (acked, others) = edits.await.unwrap();
    println!(
        "{:?} of faults: {served} requests served, {excused} excused (their node went down), {} edits acknowledged, {} not: {:?}",
        started.elapsed(),
        acked.len(),
        others.len(),
        others
    );
    assert!(
        failures.is_empty(),
        "requests failed on live nodes: {failures:?}"
    );
    assert!(served > 0 && !acked.is_empty(), "nothing happened");

    // Everything up again: the nodes converge on one revision with every acknowledged edit.
    for (i, node) in nodes.iter_mut().enumerate() {
        if node.is_none() {
            *node = Some(start(&board, &url, i));
        }
    }
    let admins: Vec<AdminClient> = (0..3)
        .map(|i| AdminClient::new(seen(&board, i).up.unwrap().1))
        .collect();
    let converged = Instant::now();
    loop {
        let mut revisions = Vec::new();
        for admin in &admins {
            let c = admin.get("/api/v1/cluster").await.json;
            if c["synced"] == true && c["etcd_connected"] == true {
                revisions.push(c["config_revision"].as_i64().unwrap_or(0));
            }
        }
        if revisions.len() == 3 && revisions.iter().all(|r| *r == revisions[0]) {
            println!(
                "converged on revision {} in {:?}",
                revisions[0],
                converged.elapsed()
            );
            break;
        }
        assert!(
            converged.elapsed() < Duration::from_secs(60),
            "no convergence: {revisions:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let documents: Vec<serde_json::Value> = futures_util::future::join_all(
        admins
            .iter()
            .map(|a| async move { a.get("/api/v1/config").await.json }),
    )
    .await
    .into_iter()
    .map(|mut d| {
        // Each node's own tables differ by design.
        d.as_object_mut()
            .unwrap()
            .retain(|k, _| k != "admin" && k != "cluster");
        d
    })
    .collect();
    assert!(
        documents.iter().all(|d| *d == documents[0]),
        "the nodes' documents differ"
    );
    for (i, name) in NAMES.iter().enumerate() {
        let web = seen(&board, i).up.unwrap().0;
        for priority in &acked {
            let answer = ballast_testkit::client::get(web, &format!("/r{priority}")).await;
            let body = String::from_utf8_lossy(answer.body()).into_owned();
            assert_eq!(
                body,
                format!("r{priority}"),
                "node {name} lost acknowledged edit {priority}"
            );
        }
    }
}
