//! Several Ballast processes and one real etcd (Debian's etcd-server, started by the test on
//! loopback): the shared configuration follows a change made on any node, conflicting
//! changes get 409, a node cut off from etcd keeps serving and catches up, `ballast config
//! push` reaches every node, and the member list follows the nodes' leases.

use std::path::Path;
use std::time::{Duration, Instant};

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::get;
use ballast_testkit::{BallastProcess, EtcdProcess};
use serde_json::json;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

const WAIT: Duration = Duration::from_secs(30);

/// The shared part every node starts with: one listener answering `v1` on its own.
const SHARED: &str = r#"
[listeners.web]
bind = "127.0.0.1:0"
default_action = { fixed_response = { status = 200, content_type = "text/plain", body = "v1" } }
"#;

/// A node's file: its own tables, and the shared part when `shared` is given.
fn node_config(etcd: &str, name: &str, shared: &str) -> String {
    format!(
        r#"[admin]
bind = "127.0.0.1:0"

[cluster]
etcd = ["{etcd}"]
node_name = "{name}"
lease_ttl = "2s"
timeout = "2s"
{shared}"#
    )
}

/// Waits until `check` holds, polling; panics naming `what` after [`WAIT`].
async fn until<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < WAIT, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

async fn body(addr: std::net::SocketAddr, path: &str) -> String {
    String::from_utf8_lossy(get(addr, path).await.body()).into_owned()
}

async fn cluster(admin: &AdminClient) -> serde_json::Value {
    admin.get("/api/v1/cluster").await.json
}

/// Waits until every node runs the shared document at one revision and sees `count` nodes.
async fn settled(admins: &[AdminClient], count: usize) -> i64 {
    let start = Instant::now();
    loop {
        let mut seen = Vec::new();
        for admin in admins {
            let c = cluster(admin).await;
            let nodes = c["nodes"].as_array().map_or(0, Vec::len);
            if c["synced"] == true && nodes == count {
                seen.push(c["config_revision"].as_i64().unwrap_or(0));
            }
        }
        if seen.len() == admins.len() && seen.iter().all(|r| *r == seen[0] && *r > 0) {
            return seen[0];
        }
        assert!(start.elapsed() < WAIT, "nodes not settled: {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_reaches_every_node_and_a_stale_one_gets_409() {
    let etcd = EtcdProcess::start();
    let nodes: Vec<BallastProcess> = ["a", "b", "c"]
        .iter()
        .map(|name| BallastProcess::start(bin(), &node_config(&etcd.url, name, SHARED)))
        .collect();
    let admins: Vec<AdminClient> = nodes
        .iter()
        .map(|n| AdminClient::new(n.admin_addr()))
        .collect();
    let first = settled(&admins, 3).await;
    let listed = cluster(&admins[0]).await;
    let names: Vec<&str> = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);

    // A rule added through node A's API answers on B and C.
    let rule = json!({
        "conditions": { "path": ["/hello"] },
        "action": { "fixed_response": { "status": 200, "content_type": "text/plain", "body": "v2" } }
    });
    let put = admins[0].put("/api/v1/listeners/web/rules/10", &rule).await;
    assert_eq!(put.status, 200, "{}", put.json);
    for node in &nodes[1..] {
        let addr = node.addr("web");
        let took = until("the rule on every node", || async {
            body(addr, "/hello").await == "v2"
        })
        .await;
        eprintln!("rule from node a answered on another node after {took:?}");
    }
    let second = settled(&admins, 3).await;
    assert!(second > first);
    assert_eq!(body(nodes[0].addr("web"), "/other").await, "v1");

    // Optimistic concurrency: two whole documents made from the same revision; the first
    // wins, the second gets 409 and changes nothing.
    let read = admins[1].get("/api/v1/config").await;
    let etag = read.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{second}\""));
    let mut document = read.json.clone();
    document["listeners"]["web"]["default_action"]["fixed_response"]["body"] = json!("v3");
    let put_if = |admin: &AdminClient, document: &serde_json::Value| {
        let (admin, body, etag) = (admin.clone(), document.to_string(), etag.clone());
        async move {
            admin
                .call_with(
                    http::Method::PUT,
                    "/api/v1/config",
                    "application/json",
                    body.into_bytes(),
                    &[("if-match", &etag)],
                )
                .await
        }
    };
    let won = put_if(&admins[1], &document).await;
    assert_eq!(won.status, 200, "{}", won.json);
    document["listeners"]["web"]["default_action"]["fixed_response"]["body"] = json!("lost");
    let lost = put_if(&admins[2], &document).await;
    assert_eq!(lost.status, 409, "{}", lost.json);
    assert_eq!(lost.json["error"]["code"], "Config.Conflict");
    for node in &nodes {
        let addr = node.addr("web");
        until("the winner on every node", || async {
            body(addr, "/other").await == "v3"
        })
        .await;
    }
    // Each node kept its own name and admin table.
    for (admin, name) in admins.iter().zip(["a", "b", "c"]) {
        assert_eq!(cluster(admin).await["node"], name);
        let metrics = admin.get("/metrics").await.text;
        assert!(
            metrics.contains(&format!(
                "ballast_cluster_etcd_connected{{node=\"{name}\"}} 1"
            )),
            "{metrics}"
        );
    }
    drop(etcd);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_etcd_keeps_serving_and_catches_up() {
    let mut etcd = EtcdProcess::start();
    let a = BallastProcess::start(bin(), &node_config(&etcd.url, "a", SHARED));
    // The first node to reach etcd writes the cluster's document: A, before B starts (B
    // could otherwise get there first with its empty one, as CI once saw).
    let admin_a = AdminClient::new(a.admin_addr());
    settled(std::slice::from_ref(&admin_a), 1).await;
    // B joins with no shared part in its file: it takes the cluster's.
    let b = BallastProcess::start(bin(), &node_config(&etcd.url, "b", ""));
    let admins = [admin_a, AdminClient::new(b.admin_addr())];
    settled(&admins, 2).await;
    let b_web = until_listener(&admins[1], "web").await;
    assert_eq!(body(b_web, "/").await, "v1");

    etcd.stop();
    until("b sees etcd gone", || async {
        admins[1].get("/readyz").await.json["cluster"]["etcd_connected"] == false
    })
    .await;
    // Still ready, still serving its last good configuration.
    let ready = admins[1].get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.json);
    assert_eq!(body(b_web, "/").await, "v1");
    let metrics = admins[1].get("/metrics").await.text;
    assert!(metrics.contains("ballast_cluster_etcd_connected{node=\"b\"} 0"));
    // A change cannot be shared while etcd is away: refused, nothing changed.
    let rule = json!({ "conditions": { "path": ["/x"] }, "action": { "fixed_response": { "status": 200 } } });
    let refused = admins[0].put("/api/v1/listeners/web/rules/5", &rule).await;
    assert_eq!(refused.status, 503, "{}", refused.json);
    assert_eq!(refused.json["error"]["code"], "Cluster.Unavailable");

    etcd.restart();
    // `ballast config push` from a file: every node applies it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("push.toml");
    let pushed = SHARED.replace("\"v1\"", "\"pushed\"");
    std::fs::write(&file, node_config(&etcd.url, "operator", &pushed)).unwrap();
    let out = std::process::Command::new(bin())
        .args(["config", "push", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for addr in [a.addr("web"), b_web] {
        until("the pushed document on every node", || async {
            body(addr, "/").await == "pushed"
        })
        .await;
    }
    let revision = settled(&admins, 2).await;
    // A push made from an older revision loses, with exit code 3.
    let stale = std::process::Command::new(bin())
        .args([
            "config",
            "push",
            "--revision",
            &(revision - 1).to_string(),
            "-c",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        stale.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
    // `pull` prints what runs.
    let pulled = std::process::Command::new(bin())
        .args(["config", "pull", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(pulled.status.success());
    assert!(String::from_utf8_lossy(&pulled.stdout).contains("pushed"));
    assert!(String::from_utf8_lossy(&pulled.stderr).contains(&format!("revision {revision}")));
}

/// Waits until the node serves listener `name` (from the cluster's document); its address.
async fn until_listener(admin: &AdminClient, name: &str) -> std::net::SocketAddr {
    let start = Instant::now();
    loop {
        let listeners = admin.get("/api/v1/listeners").await.json;
        let found = listeners["listeners"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["name"] == name))
            .and_then(|l| l["address"].as_str())
            .and_then(|a| a.parse().ok());
        if let Some(addr) = found {
            return addr;
        }
        assert!(start.elapsed() < WAIT, "no listener {name}: {listeners}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_list_follows_the_nodes() {
    let etcd = EtcdProcess::start();
    let a = BallastProcess::start(bin(), &node_config(&etcd.url, "a", SHARED));
    let b = BallastProcess::start(bin(), &node_config(&etcd.url, "b", SHARED));
    let c = BallastProcess::start(bin(), &node_config(&etcd.url, "c", SHARED));
    let admin = AdminClient::new(a.admin_addr());
    settled(
        &[
            AdminClient::new(a.admin_addr()),
            AdminClient::new(b.admin_addr()),
            AdminClient::new(c.admin_addr()),
        ],
        3,
    )
    .await;
    let names = |c: serde_json::Value| -> Vec<String> {
        c["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // A node that stops gives its lease back: gone at once, and the process ends.
    let mut b = b;
    b.signal("TERM");
    until("b leaves", || async {
        names(cluster(&admin).await) == ["a", "c"]
    })
    .await;
    let status = b.wait_exit(WAIT);
    assert!(status.success(), "b exited with {status}");
    // A node that dies is gone when its lease (2 s) runs out.
    c.signal("KILL");
    let took = until("c's lease ends", || async {
        names(cluster(&admin).await) == ["a"]
    })
    .await;
    eprintln!("a killed node left the member list after {took:?} (lease_ttl 2s)");
}

/// The state of `address` in group `app` on the node of `admin` (`None`: not listed).
async fn target_state(admin: &AdminClient, address: std::net::SocketAddr) -> Option<String> {
    let targets = admin.get("/api/v1/target-groups/app/targets").await.json;
    targets["targets"]
        .as_array()?
        .iter()
        .find(|t| t["address"] == address.to_string())
        .and_then(|t| t["state"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_registered_on_one_node_is_used_by_every_node() {
    let etcd = EtcdProcess::start();
    let first = ballast_testkit::Backend::spawn("first").await;
    let second = ballast_testkit::Backend::spawn("second").await;
    let shared = format!(
        r#"
[target_groups.app]
targets = ["{}"]
deregistration_delay = "1s"

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}
"#,
        first.addr
    );
    let nodes: Vec<BallastProcess> = ["a", "b", "c"]
        .iter()
        .map(|name| BallastProcess::start(bin(), &node_config(&etcd.url, name, &shared)))
        .collect();
    let admins: Vec<AdminClient> = nodes
        .iter()
        .map(|n| AdminClient::new(n.admin_addr()))
        .collect();
    settled(&admins, 3).await;

    // Registered through B: A and C send it requests too.
    let registered = admins[1]
        .post(
            "/api/v1/target-groups/app/targets",
            &json!({ "address": second.addr.to_string() }),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.json);
    for (admin, node) in admins.iter().zip(&nodes) {
        until("the registration on every node", || async {
            target_state(admin, second.addr).await.is_some()
        })
        .await;
        let before = second.hits();
        for _ in 0..4 {
            assert_eq!(get(node.addr("web"), "/").await.status(), 200);
        }
        assert!(second.hits() > before, "node {} never used it", admin.addr);
    }

    // Each node publishes its own view of the targets: the cluster view lists both on all.
    until("every node's view of both targets", || async {
        let health = cluster(&admins[0]).await["health"].clone();
        let views = health.as_array().cloned().unwrap_or_default();
        views.len() == 3
            && views.iter().all(|v| {
                let listed: Vec<&str> = v["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["address"].as_str())
                    .collect();
                listed.contains(&first.addr.to_string().as_str())
                    && listed.contains(&second.addr.to_string().as_str())
            })
    })
    .await;

    // A target written in the shared document is removed by changing the document.
    let refused = admins[0]
        .delete(&format!("/api/v1/target-groups/app/targets/{}", first.addr))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert_eq!(refused.json["error"]["code"], "Cluster.TargetInDocument");

    // Deregistered through C: every node drains it, then forgets it.
    let deregistered = admins[2]
        .delete(&format!(
            "/api/v1/target-groups/app/targets/{}",
            second.addr
        ))
        .await;
    assert_eq!(deregistered.status, 202, "{}", deregistered.json);
    for admin in &admins {
        until("the target gone from every node", || async {
            target_state(admin, second.addr).await.is_none()
        })
        .await;
    }
    let after = second.hits();
    for node in &nodes {
        for _ in 0..4 {
            assert_eq!(get(node.addr("web"), "/").await.status(), 200);
        }
    }
    assert_eq!(second.hits(), after, "a drained target still got requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sticky_cookie_from_one_node_is_honoured_by_another() {
    let etcd = EtcdProcess::start();
    let one = ballast_testkit::Backend::spawn("one").await;
    let two = ballast_testkit::Backend::spawn("two").await;
    // No stickiness_secret anywhere: the first node gives the cluster one.
    let shared = format!(
        r#"
[target_groups.app]
targets = ["{}", "{}"]
stickiness = {{ type = "lb_cookie" }}

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}
"#,
        one.addr, two.addr
    );
    let a = BallastProcess::start(bin(), &node_config(&etcd.url, "a", &shared));
    let b = BallastProcess::start(bin(), &node_config(&etcd.url, "b", &shared));
    let admins = [
        AdminClient::new(a.admin_addr()),
        AdminClient::new(b.admin_addr()),
    ];
    settled(&admins, 2).await;
    let config = admins[1].get("/api/v1/config").await.json;
    assert_eq!(config["server"]["stickiness_secret"], "<redacted>");

    let mut cookies = Vec::new();
    for _ in 0..4 {
        let first = get(a.addr("web"), "/").await;
        let cookie = first.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let target: serde_json::Value = serde_json::from_slice(first.body()).unwrap();
        cookies.push((cookie, target["name"].clone()));
    }
    let before = settled(&admins, 2).await;
    for round in 0..2 {
        for (cookie, target) in &cookies {
            let request = http::Request::get("/")
                .header("host", "shop.example")
                .header("cookie", cookie)
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            let mut client = ballast_testkit::client::H1::connect(b.addr("web")).await;
            let answer = client.send(request).await.unwrap();
            let seen: serde_json::Value = serde_json::from_slice(answer.body()).unwrap();
            assert_eq!(
                &seen["name"], target,
                "node b did not honour a's cookie (round {round})"
            );
        }
        if round == 0 {
            // The secret rotated through one node's API: cookies sealed with the old one
            // are still honoured everywhere (one secret of overlap).
            let rotate = json!([{ "op": "replace", "path": "/server/stickiness_secret", "value": "rotated-secret-0123456789abcdef0123456789" }]);
            let patched = admins[0].patch("/api/v1/config", &rotate).await;
            assert_eq!(patched.status, 200, "{}", patched.json);
            assert!(settled(&admins, 2).await > before);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_document_is_written_again_and_one_no_node_runs_is_said_so() {
    let etcd = EtcdProcess::start();
    let a = BallastProcess::start(bin(), &node_config(&etcd.url, "a", SHARED));
    let b = BallastProcess::start(bin(), &node_config(&etcd.url, "b", SHARED));
    let admins = [
        AdminClient::new(a.admin_addr()),
        AdminClient::new(b.admin_addr()),
    ];
    let first = settled(&admins, 2).await;

    // Someone deletes the key: the nodes keep serving, and the next change writes it again.
    etcd.etcdctl(&["del", "/ballast/config"]);
    assert_eq!(body(a.addr("web"), "/").await, "v1");
    let rule = json!({
        "conditions": { "path": ["/again"] },
        "action": { "fixed_response": { "status": 200, "content_type": "text/plain", "body": "again" } }
    });
    let put = admins[0].put("/api/v1/listeners/web/rules/10", &rule).await;
    assert_eq!(put.status, 200, "{}", put.json);
    let b_web = b.addr("web");
    until("the change on b", || async {
        body(b_web, "/again").await == "again"
    })
    .await;
    let second = settled(&admins, 2).await;
    assert!(second > first);

    // A document that validates but that this node cannot run (its port is taken here):
    // written for the cluster, said so, and the node keeps its revision and its ETag.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let mut document = admins[0].get("/api/v1/config").await.json;
    document["listeners"]["extra"] = json!({
        "bind": format!("127.0.0.1:{port}"),
        "default_action": { "fixed_response": { "status": 200 } }
    });
    let refused = admins[0].put("/api/v1/config", &document).await;
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert_eq!(refused.json["error"]["code"], "Cluster.NotAppliedHere");
    let etag = admins[0].get("/api/v1/config").await.headers["etag"].clone();
    assert_eq!(etag.to_str().unwrap(), format!("\"{second}\""));
    assert_eq!(cluster(&admins[0]).await["config_revision"], second);
    assert_eq!(body(a.addr("web"), "/again").await, "again");
    drop(busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_runs_the_scaling_groups_and_another_takes_over_when_it_dies() {
    let etcd = EtcdProcess::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (first, _) = ballast_testkit::scaling::free_ports(6);
    let script = dir.path().join("instances.sh");
    std::fs::write(
        &script,
        ballast_testkit::scaling::echo_script(bin(), &state, first),
    )
    .unwrap();
    let _instances = ballast_testkit::scaling::ScriptInstances(state.clone());
    let script = script.display();
    let shared = format!(
        r#"
[target_groups.app]
targets = []
deregistration_delay = "0s"

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ forward = "app" }}

[scaling_groups.app]
target_group = "app"
history_file = "{history}"
min = 0
max = 3
desired = 2
provider = {{ command = {{ launch = "sh {script} launch {{name}}", terminate = "sh {script} terminate {{id}}", list = "sh {script} list", timeout = "10s" }} }}
"#,
        history = dir.path().join("history.json").display()
    );
    let mut a = BallastProcess::start(bin(), &node_config(&etcd.url, "a", &shared));
    let a_admin = AdminClient::new(a.admin_addr());
    until("a leads", || async {
        cluster(&a_admin).await["scaling_leader"] == "a"
    })
    .await;
    let b = BallastProcess::start(bin(), &node_config(&etcd.url, "b", &shared));
    let b_admin = AdminClient::new(b.admin_addr());
    settled(&[a_admin.clone(), b_admin.clone()], 2).await;
    assert_eq!(cluster(&b_admin).await["scaling_leader"], "a");
    // The leader launches two instances; b, which runs no group, sends them requests too.
    until("two instances in service on a", || async {
        a_admin.get("/api/v1/scaling-groups/app").await.json["in_service"] == 2
    })
    .await;
    assert_eq!(b_admin.get("/api/v1/scaling-groups/app").await.status, 404);
    let b_web = b.addr("web");
    until("b routes to the instances", || async {
        get(b_web, "/").await.status() == 200
    })
    .await;

    // The leader dies: b takes the lease once a's runs out, finds the two instances through
    // the provider's list, and launches none.
    a.signal("KILL");
    let _ = a.wait_exit(WAIT);
    let took = until("b leads", || async {
        cluster(&b_admin).await["scaling_leader"] == "b"
    })
    .await;
    eprintln!("b took the scaling lease {took:?} after a was killed (lease_ttl 2s)");
    until("b runs the group with the two instances", || async {
        b_admin.get("/api/v1/scaling-groups/app").await.json["in_service"] == 2
    })
    .await;
    let group = b_admin.get("/api/v1/scaling-groups/app").await.json;
    let took_over = group["activities"].as_array().unwrap().iter().any(|a| {
        a["description"]
            .as_str()
            .unwrap_or("")
            .contains("took over 2")
    });
    assert!(took_over, "{group}");
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        2,
        "a duplicate launch"
    );
    assert_eq!(get(b_web, "/").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dns_answer_for_the_cluster_drops_a_killed_node_within_its_lease() {
    use ballast_testkit::dns::{dns_addr, wait_for_answer};
    let etcd = EtcdProcess::start();
    let shared = r#"
[dns]
bind = "127.0.0.1:0"

[dns.zones."example.test."]
ns = ["ns1"]
ttl = "1s"
records = [{ name = "lb", type = "A", alias = { cluster = true } }]
"#;
    let node = |name: &str, address: &str| {
        node_config(&etcd.url, name, shared).replace(
            "lease_ttl = \"2s\"",
            &format!("lease_ttl = \"2s\"\nadvertise = \"{address}\""),
        )
    };
    let a = BallastProcess::start(bin(), &node("a", "127.0.0.1"));
    let b = BallastProcess::start(bin(), &node("b", "127.0.0.2"));
    let mut c = BallastProcess::start(bin(), &node("c", "127.0.0.3"));
    let server = dns_addr(&a);
    let all = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    wait_for_answer(server, "lb.example.test.", &all, WAIT).await;
    // Every node answers the same.
    wait_for_answer(dns_addr(&b), "lb.example.test.", &all, WAIT).await;

    c.signal("KILL");
    let _ = c.wait_exit(WAIT);
    let took = wait_for_answer(server, "lb.example.test.", &all[..2], WAIT).await;
    eprintln!("the killed node left the DNS answer after {took:?} (lease_ttl 2s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reach_etcd_over_mutual_tls() {
    let ca = ballast_testkit::tls::TestCa::new("etcd test CA");
    let etcd = EtcdProcess::start_tls(&ca);
    let (ca_file, cert, key) = etcd.tls_files().unwrap();
    let node = |name: &str| {
        node_config(&etcd.url, name, SHARED).replace(
            "timeout = \"2s\"",
            &format!(
                "timeout = \"2s\"\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"",
                ca_file.display(),
                cert.display(),
                key.display()
            ),
        )
    };
    let a = BallastProcess::start(bin(), &node("a"));
    let b = BallastProcess::start(bin(), &node("b"));
    let admins = [
        AdminClient::new(a.admin_addr()),
        AdminClient::new(b.admin_addr()),
    ];
    settled(&admins, 2).await;
    assert!(cluster(&admins[0]).await["etcd_endpoint"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
}
