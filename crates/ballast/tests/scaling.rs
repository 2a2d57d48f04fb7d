//! Scaling groups through the real binary, with the `process` provider running real `ballast
//! echo` instances: sustained load scales the group out and the new instances receive
//! traffic; `kill -9` of an instance gets it replaced; the load's end scales the group in,
//! draining the instances it retires, with no failed request.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::H1;
use ballast_testkit::BallastProcess;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// A `process` provider running `ballast echo` instances on `ports` free ports.
fn echo_provider(ports: u16) -> String {
    ballast_testkit::scaling::echo_provider(bin(), ports)
}

/// A listener in front of target group `app` (health-checked every second, with `group`'s
/// keys added), run by scaling group `app` with `scaling`'s keys.
fn config(group: &str, scaling: &str) -> String {
    config_with_history(group, scaling, &unused_history_file())
}

/// As [`config`], the group's load history kept in `history`.
fn config_with_history(group: &str, scaling: &str, history: &Path) -> String {
    format!(
        "[admin]\nbind = \"127.0.0.1:0\"\n\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\n\n[target_groups.app]\n{group}\nhealth_check = {{ path = \"/health\", interval = \"1s\", timeout = \"500ms\", healthy_threshold = 2 }}\n\n[scaling_groups.app]\ntarget_group = \"app\"\nhistory_file = \"{}\"\n{scaling}",
        history.display()
    )
}

/// A history file of its own for a test that never runs an hour (the file is written when
/// an hour ends), so tests neither share one nor read the system's.
fn unused_history_file() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "ballast-test-history-{}-{}.json",
        std::process::id(),
        fastrand::u64(..)
    ))
}

/// The group, as the admin API shows it.
async fn group(admin: &AdminClient) -> serde_json::Value {
    admin.get("/api/v1/scaling-groups/app").await.json
}

async fn wait_for(
    admin: &AdminClient,
    what: &str,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let g = group(admin).await;
        if done(&g) {
            return g;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}; the group: {g:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn in_service(g: &serde_json::Value) -> u64 {
    g["in_service"].as_u64().unwrap_or(0)
}

fn instance_names(g: &serde_json::Value) -> HashSet<String> {
    g["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["state"] == "in_service")
        .filter_map(|i| i["name"].as_str().map(str::to_owned))
        .collect()
}

/// Requests in a loop on keep-alive connections until `stop`, counting answers, failures
/// and the echo instances that answered.
fn load(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pace: Duration,
) -> (
    tokio::task::JoinHandle<HashSet<String>>,
    Arc<AtomicUsize>,
    Arc<AtomicUsize>,
) {
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (ok2, failed2) = (Arc::clone(&ok), Arc::clone(&failed));
    let task = tokio::spawn(async move {
        let mut seen = HashSet::new();
        let mut client = H1::connect(addr).await;
        for _ in 0..100_000 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let request = ballast_testkit::client::get_request(addr, "/");
            match client.send(request).await {
                Ok(r) if r.status() == 200 => {
                    ok2.fetch_add(1, Ordering::Relaxed);
                    let body: serde_json::Value =
                        serde_json::from_slice(r.body()).unwrap_or_default();
                    if let Some(name) = body["instance"].as_str() {
                        seen.insert(name.to_owned());
                    }
                }
                _ => {
                    failed2.fetch_add(1, Ordering::Relaxed);
                    client = H1::connect(addr).await;
                }
            }
            tokio::time::sleep(pace).await;
        }
        seen
    });
    (task, ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_scales_out_a_killed_instance_is_replaced_and_scale_in_drains() {
    let provider = echo_provider(10);
    let config = config(
        r#"deregistration_delay = "2s"
fail_open = false"#,
        &format!(
            r#"min = 1
max = 4
health_check_grace_period = "30s"
{provider}
policies = [
  {{ type = "step", alarm = {{ metric = "request_count", statistic = "sum", comparison = ">=", threshold = 100, period = "10s" }}, adjustment_type = "exact_capacity", steps = [{{ lower = 0, adjustment = 3 }}] }},
  {{ type = "step", alarm = {{ metric = "request_count", statistic = "sum", comparison = "<", threshold = 20, period = "10s" }}, adjustment_type = "exact_capacity", steps = [{{ upper = 0, adjustment = 1 }}] }},
]
"#
        ),
    );
    let ballast = BallastProcess::start(bin(), &config);
    let admin = AdminClient::new(ballast.admin_addr());
    let web = ballast.addr("web");
    let wait = Duration::from_secs(60);
    wait_for(&admin, "the first instance in service", wait, |g| {
        in_service(g) == 1
    })
    .await;

    // Sustained load: 100 requests per 10 s and more. The group goes to 3, and the new
    // instances take traffic.
    let stop = Arc::new(AtomicBool::new(false));
    let (busy, ok, failed) = load(web, Arc::clone(&stop), Duration::from_millis(20));
    let three = wait_for(&admin, "scale-out to 3", wait, |g| in_service(g) == 3).await;
    let started = instance_names(&three);
    let before = ok.load(Ordering::Relaxed);
    while ok.load(Ordering::Relaxed) < before + 300 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A kill -9 of one instance: it is replaced.
    let victim = three["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["state"] == "in_service")
        .unwrap()
        .clone();
    let pid: i32 = victim["id"].as_str().unwrap().parse().unwrap();
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    rustix::process::kill_process_group(pid, rustix::process::Signal::KILL).unwrap();
    let victim_name = victim["name"].as_str().unwrap().to_owned();
    let replaced = wait_for(&admin, "the killed instance replaced", wait, |g| {
        in_service(g) == 3 && !instance_names(g).contains(&victim_name)
    })
    .await;
    assert!(
        replaced["activities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["cause"] == "exited"),
        "{replaced:#}"
    );
    stop.store(true, Ordering::Relaxed);
    let served_by = busy.await.unwrap();
    assert!(
        started
            .iter()
            .filter(|n| served_by.contains(&format!("echo-{}", port_of(&three, n))))
            .count()
            >= 2,
        "new instances took traffic: {served_by:?}"
    );
    let failed_while_busy = failed.load(Ordering::Relaxed);

    // Light load (under 20 per 10 s): back to 1, the retired instances drained first; not a
    // request fails.
    let stop = Arc::new(AtomicBool::new(false));
    let (light, ok, failed) = load(web, Arc::clone(&stop), Duration::from_millis(700));
    let one = wait_for(&admin, "scale-in to 1", Duration::from_secs(90), |g| {
        in_service(g) == 1 && g["instances"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    light.await.unwrap();
    assert!(ok.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the scale-in: {one:#}"
    );
    let causes: Vec<String> = one["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["cause"].as_str().map(str::to_owned))
        .collect();
    assert!(causes.iter().any(|c| c == "scale-in"), "{causes:?}");
    assert!(causes.iter().any(|c| c == "terminate"), "{causes:?}");
    // A termination's activity spans its instance's 2 s of draining.
    let drained = one["activities"].as_array().unwrap().iter().any(|a| {
        let time = |k: &str| a[k].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
        a["cause"] == "terminate"
            && matches!((time("start"), time("end")), (Some(s), Some(e)) if e.duration_since(s).as_secs() >= 2)
    });
    assert!(drained, "{:#}", one["activities"]);
    eprintln!("failures while the killed instance was replaced: {failed_while_busy}");
}

/// The port of instance `name` in the group's listing.
fn port_of(g: &serde_json::Value, name: &str) -> u16 {
    g["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .and_then(|i| i["address"].as_str()?.parse::<SocketAddr>().ok())
        .map_or(0, |a| a.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_set_desired_suspend_launches_and_protect_instances() {
    let provider = echo_provider(6);
    let config = config(
        r#"deregistration_delay = "0s""#,
        &format!(
            r#"min = 0
max = 3
desired = 1
{provider}
"#
        ),
    );
    let ballast = BallastProcess::start(bin(), &config);
    let admin = AdminClient::new(ballast.admin_addr());
    let wait = Duration::from_secs(60);
    wait_for(&admin, "one instance in service", wait, |g| {
        in_service(g) == 1
    })
    .await;

    // Refused commands say why.
    let bad = admin
        .put(
            "/api/v1/scaling-groups/app/desired",
            &serde_json::json!({ "desired": 9 }),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(
        bad.text.contains("outside the group's bounds (0 to 3)"),
        "{}",
        bad.text
    );
    let unknown = admin
        .put(
            "/api/v1/scaling-groups/nope/desired",
            &serde_json::json!({ "desired": 1 }),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    let process = admin
        .post(
            "/api/v1/scaling-groups/app/suspend",
            &serde_json::json!({ "processes": ["az_rebalance"] }),
        )
        .await;
    assert_eq!(process.status, 400, "{}", process.text);
    let nobody = admin
        .put(
            "/api/v1/scaling-groups/app/instances/app-9/protection",
            &serde_json::json!({ "protected": true }),
        )
        .await;
    assert_eq!(nobody.status, 400, "{}", nobody.text);

    // The group's gauges.
    let desired = "ballast_scaling_group_desired_capacity{scaling_group=\"app\"}";
    assert_eq!(admin.metric(desired).await, 1.0);
    let serving = "ballast_scaling_group_instances{scaling_group=\"app\",state=\"in_service\"}";
    assert_eq!(admin.metric(serving).await, 1.0);

    // Desired 2: a second instance.
    let set = admin
        .put(
            "/api/v1/scaling-groups/app/desired",
            &serde_json::json!({ "desired": 2 }),
        )
        .await;
    assert_eq!(set.status, 202, "{}", set.text);
    wait_for(&admin, "two instances in service", wait, |g| {
        in_service(g) == 2
    })
    .await;

    // Launches suspended: desired 3 is taken, and no instance comes until they resume.
    let s = admin
        .post(
            "/api/v1/scaling-groups/app/suspend",
            &serde_json::json!({ "processes": ["launch"] }),
        )
        .await;
    assert_eq!(s.status, 202, "{}", s.text);
    admin
        .put(
            "/api/v1/scaling-groups/app/desired",
            &serde_json::json!({ "desired": 3 }),
        )
        .await;
    let held = wait_for(
        &admin,
        "desired 3 while launches are suspended",
        wait,
        |g| g["desired"] == 3,
    )
    .await;
    assert_eq!(held["suspended"], serde_json::json!(["launch"]));
    assert_eq!(held["instances"].as_array().unwrap().len(), 2, "{held:#}");
    admin
        .post(
            "/api/v1/scaling-groups/app/resume",
            &serde_json::json!({ "processes": ["launch"] }),
        )
        .await;
    wait_for(&admin, "three instances after the resume", wait, |g| {
        in_service(g) == 3
    })
    .await;

    // The first instance protected: a scale-in to 1 keeps it.
    let p = admin
        .put(
            "/api/v1/scaling-groups/app/instances/app-1/protection",
            &serde_json::json!({ "protected": true }),
        )
        .await;
    assert_eq!(p.status, 202, "{}", p.text);
    wait_for(&admin, "app-1 protected", wait, |g| {
        g["instances"].as_array().is_some_and(|i| {
            i.iter()
                .any(|i| i["name"] == "app-1" && i["protected"] == true)
        })
    })
    .await;
    admin
        .put(
            "/api/v1/scaling-groups/app/desired",
            &serde_json::json!({ "desired": 1 }),
        )
        .await;
    let one = wait_for(&admin, "one instance left", wait, |g| {
        g["instances"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    assert_eq!(one["instances"][0]["name"], "app-1", "{one:#}");
    let causes: Vec<&str> = one["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["cause"].as_str())
        .collect();
    assert!(causes.contains(&"operator"), "{causes:?}");
}

/// The `command` provider driving a shell script that starts and stops `ballast echo`
/// processes: the group launches and terminates through it, and a restarted Ballast takes
/// over the instances its `list` reports instead of launching more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_provider_drives_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = ballast_testkit::scaling::free_ports(6);
    let script = dir.path().join("instances.sh");
    std::fs::write(
        &script,
        ballast_testkit::scaling::echo_script(bin(), &dir.path().join("state"), first),
    )
    .unwrap();
    let _instances = ballast_testkit::scaling::ScriptInstances(dir.path().join("state"));
    let script = script.display();
    let config = config(
        r#"deregistration_delay = "0s""#,
        &format!(
            r#"min = 0
max = 3
desired = 2
provider = {{ command = {{ launch = "sh {script} launch {{name}}", terminate = "sh {script} terminate {{id}}", list = "sh {script} list", timeout = "10s" }} }}
"#
        ),
    );
    let ballast = BallastProcess::start(bin(), &config);
    let admin = AdminClient::new(ballast.admin_addr());
    let wait = Duration::from_secs(60);
    let two = wait_for(&admin, "two instances through the script", wait, |g| {
        in_service(g) == 2
    })
    .await;
    // Requests reach them.
    let answer = ballast_testkit::client::get(ballast.addr("web"), "/").await;
    assert_eq!(answer.status(), 200);
    // Down to 1: the script terminates one (its process ends, its state file goes).
    admin
        .put(
            "/api/v1/scaling-groups/app/desired",
            &serde_json::json!({ "desired": 1 }),
        )
        .await;
    let one = wait_for(&admin, "one instance left", wait, |g| {
        g["instances"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    let terminated: Vec<&serde_json::Value> = two["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["name"] != one["instances"][0]["name"])
        .collect();
    let pid: i32 = terminated[0]["id"].as_str().unwrap().parse().unwrap();
    let state_files = std::fs::read_dir(dir.path().join("state")).unwrap().count();
    assert_eq!(
        state_files, 1,
        "the script removed the terminated instance's state"
    );
    let gone = std::path::Path::new(&format!("/proc/{pid}")).exists();
    let deadline = tokio::time::Instant::now() + wait;
    let mut gone = gone;
    while !gone {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} still runs"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A zombie until its parent (the script's shell) is reaped counts as gone.
        gone = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |s| s.contains(") Z "));
    }
    let causes: Vec<&str> = one["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["cause"].as_str())
        .collect();
    assert!(
        causes.contains(&"terminate") && causes.contains(&"launch"),
        "{causes:?}"
    );
    let kept = one["instances"][0]["id"].as_str().unwrap().to_owned();
    drop(ballast);
    // A new Ballast with the same settings (desired 2) finds the one still running and
    // launches one more, not two.
    let again = BallastProcess::start(bin(), &config);
    let admin = AdminClient::new(again.admin_addr());
    let two = wait_for(&admin, "two instances after the restart", wait, |g| {
        in_service(g) == 2
    })
    .await;
    let ids: Vec<&str> = two["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert!(ids.contains(&kept.as_str()), "{two:#}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("state")).unwrap().count(),
        2
    );
    assert!(
        two["activities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["cause"] == "start"),
        "{two:#}"
    );
    drop(again);
    // The script's instances outlive Ballast (they are not its children): stop them.
    for f in std::fs::read_dir(dir.path().join("state")).unwrap() {
        let pid: i32 = std::fs::read_to_string(f.unwrap().path())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::Signal::TERM,
        );
    }
}

/// A load history stored by an earlier run is read at start: with two days of it, the
/// predictive policy's forecast is in the API at once, and the samples of the running group
/// (load, capacity, response time from the target group's histogram) fill its series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_load_history_gives_a_forecast_at_start_and_samples_fill_the_series() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.json");
    // Two days of hours, ended a minute ago: 1000 requests an hour at night, 9000 by day.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let hours: Vec<f64> = (0..48)
        .map(|h| {
            if (8..20).contains(&(h % 24)) {
                9000.0
            } else {
                1000.0
            }
        })
        .collect();
    let stored =
        serde_json::json!({ "version": 1, "group": "app", "ended_at": now - 60, "hours": hours });
    std::fs::write(&file, stored.to_string()).unwrap();
    let provider = echo_provider(4);
    let config = config_with_history(
        "",
        &format!(
            r#"min = 1
max = 3
{provider}
policies = [
  {{ type = "predictive", target = 3000 }},
  {{ type = "target_tracking", metric = "target_response_time", target = 60000 }},
]
"#
        ),
        &file,
    );
    let ballast = BallastProcess::start(bin(), &config);
    let admin = AdminClient::new(ballast.admin_addr());
    let wait = Duration::from_secs(60);
    let g = wait_for(&admin, "the forecast from the stored history", wait, |g| {
        g["forecast"].is_object() && g["history_hours"] == 48
    })
    .await;
    let forecast = &g["forecast"];
    assert_eq!(forecast["mode"], "forecast_only");
    assert_eq!(forecast["method"], "holt_winters");
    let hours = forecast["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 48);
    // Night hours need one instance, day hours three.
    let capacities: HashSet<u64> = hours
        .iter()
        .filter_map(|h| h["capacity"].as_u64())
        .collect();
    assert!(
        capacities.contains(&1) && capacities.contains(&3),
        "{forecast:#}"
    );
    // Forecast only: the desired capacity is left alone.
    assert_eq!(g["desired"], 1);

    wait_for(&admin, "the instance in service", wait, |g| {
        in_service(g) == 1
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let (busy, ok, _) = load(
        ballast.addr("web"),
        Arc::clone(&stop),
        Duration::from_millis(20),
    );
    let g = wait_for(&admin, "samples with load and response time", wait, |g| {
        g["series"].as_array().is_some_and(|s| {
            s.iter().any(|p| {
                p["requests_per_second"].as_f64().unwrap_or(0.0) > 0.0
                    && p["response_time_ms"].as_f64().is_some_and(|ms| ms > 0.0)
                    && p["in_service"] == 1
            })
        })
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    busy.await.unwrap();
    assert!(ok.load(Ordering::Relaxed) > 0);
    let point = g["series"].as_array().unwrap().last().unwrap().clone();
    assert!(point["at"].as_i64().unwrap() >= now, "{point:#}");
    assert_eq!(point["desired"], 1);
}

/// Instances' targets carry their zone: a node in zone a with `cross_zone = false` sends only
/// to the instance in zone a. A reload that drops a zone: its instance is moved, a launch
/// into a listed zone first, the retirement only once the new one is in service, so the
/// group never has fewer in service than desired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_dropped_by_a_reload_has_its_instances_moved_launch_first() {
    let provider = echo_provider(5);
    let scaling = |zones: &str| {
        format!(
            "min = 2\nmax = 3\nzones = {zones}\nhealth_check_grace_period = \"30s\"\n{provider}\n"
        )
    };
    let history = unused_history_file();
    let group = "deregistration_delay = \"1s\"\ncross_zone = false";
    let zoned = |zones: &str| {
        format!(
            "[server]\nzone = \"a\"\n\n{}",
            config_with_history(group, &scaling(zones), &history)
        )
    };
    let ballast = BallastProcess::start(bin(), &zoned(r#"["a", "b"]"#));
    let admin = AdminClient::new(ballast.admin_addr());
    let wait = Duration::from_secs(60);
    let two = wait_for(&admin, "two instances in service", wait, |g| {
        in_service(g) == 2
    })
    .await;
    let in_a = two["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["zone"] == "a")
        .and_then(|i| i["address"].as_str()?.parse::<SocketAddr>().ok())
        .unwrap();
    let web = ballast.addr("web");
    let mut client = H1::connect(web).await;
    for _ in 0..20 {
        let r = client
            .send(ballast_testkit::client::get_request(web, "/"))
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["instance"], format!("echo-{}", in_a.port()), "{body}");
    }

    ballast.rewrite_config(&zoned(r#"["b"]"#));
    ballast.signal("HUP");
    ballast.wait_for_log("configuration reloaded", wait);
    let zones = |g: &serde_json::Value| -> Vec<String> {
        g["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["state"] != "terminating")
            .filter_map(|i| i["zone"].as_str().map(str::to_owned))
            .collect()
    };
    let moved = wait_for(
        &admin,
        "every instance in zone b",
        Duration::from_secs(90),
        |g| {
            in_service(g) == 2
                && g["instances"].as_array().is_some_and(|i| i.len() == 2)
                && zones(g) == ["b", "b"]
        },
    )
    .await;
    let activities = moved["activities"].as_array().unwrap();
    let text: Vec<String> = activities
        .iter()
        .map(|a| format!("{}: {}", a["cause"], a["description"]))
        .collect();
    let balancing_launch = text
        .iter()
        .position(|t| t.contains("to balance the zones"))
        .unwrap_or_else(|| panic!("no launch to balance the zones: {text:#?}"));
    let retirement = text
        .iter()
        .position(|t| t.starts_with("\"zone rebalance\""))
        .unwrap_or_else(|| panic!("no zone rebalance retirement: {text:#?}"));
    assert!(balancing_launch < retirement, "{text:#?}");
}

/// Ballast stopping (SIGTERM) drains before its `process` instances end: a request in
/// flight to one when the signal comes is answered, and the instance is stopped after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_instances_outlive_the_drain_of_a_stopping_ballast() {
    let provider = echo_provider(3);
    let config = config("", &format!("min = 1\nmax = 1\n{provider}\n"));
    let mut ballast = BallastProcess::start(bin(), &config);
    let admin = AdminClient::new(ballast.admin_addr());
    let g = wait_for(
        &admin,
        "the instance in service",
        Duration::from_secs(60),
        |g| in_service(g) == 1,
    )
    .await;
    let pid: i32 = g["instances"][0]["id"].as_str().unwrap().parse().unwrap();
    let web = ballast.addr("web");
    // A request the instance answers after 2 s, sent before the signal.
    let mut client = H1::connect(web).await;
    let slow = tokio::spawn(async move {
        client
            .send(ballast_testkit::client::get_request(web, "/?delay=2s"))
            .await
    });
    // In flight once the target counts it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let targets = admin.get("/api/v1/target-groups/app/targets").await.json;
        let in_flight = targets["targets"][0]["in_flight"].as_u64().unwrap_or(0);
        if in_flight == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{targets:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ballast.signal("TERM");
    let answer = slow
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(answer.status(), 200);
    let status = ballast.wait_exit(Duration::from_secs(40));
    assert!(status.success(), "ballast exited with {status}");
    // And the instance ended with Ballast.
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rustix::process::test_kill_process(pid).is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "instance {pid:?} still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The listener, target group `TG` and scaling group `app` running `command`, for the
/// reload test.
fn reload_config(tg: &str, command: &str, ports: (u16, u16), history: &Path) -> String {
    format!(
        r#"[admin]
bind = "127.0.0.1:0"

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ forward = "{tg}" }}

[target_groups.{tg}]
deregistration_delay = "1s"
health_check = {{ path = "/health", interval = "1s", timeout = "500ms", healthy_threshold = 2 }}

[scaling_groups.app]
target_group = "{tg}"
min = 2
max = 3
history_file = "{history}"
provider = {{ process = {{ command = "{command}", ports = "{first}-{last}", stop_timeout = "2s" }} }}
"#,
        history = history.display(),
        first = ports.0,
        last = ports.1,
    )
}

/// A reload that changes the provider replaces the running instances one at a time, each
/// after a new one is in service, with no failed request; one that changes the target group
/// moves the instances to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_of_the_provider_replaces_instances_and_of_the_target_group_moves_them() {
    let ports = ballast_testkit::scaling::free_ports(8);
    let history = unused_history_file();
    let echo = format!("{} echo --port {{port}}", bin().display());
    let renamed = format!("{echo} --name new-{{name}}");
    let config = reload_config("app", &echo, ports, &history);
    let ballast = BallastProcess::start(bin(), &config);
    let admin = AdminClient::new(ballast.admin_addr());
    let wait = Duration::from_secs(90);
    let before = wait_for(&admin, "two instances in service", wait, |g| {
        in_service(g) == 2
    })
    .await;
    let old = instance_names(&before);

    let stop = Arc::new(AtomicBool::new(false));
    let web = ballast.addr("web");
    let (busy, ok, failed) = load(web, Arc::clone(&stop), Duration::from_millis(30));
    ballast.rewrite_config(&reload_config("app", &renamed, ports, &history));
    ballast.signal("HUP");
    ballast.wait_for_log("configuration reloaded", wait);
    let after = wait_for(&admin, "both instances replaced", wait, |g| {
        in_service(g) == 2
            && g["instances"].as_array().is_some_and(|i| i.len() == 2)
            && instance_names(g).is_disjoint(&old)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let served_by = busy.await.unwrap();
    assert!(
        served_by.iter().any(|n| n.starts_with("new-")),
        "{served_by:?}"
    );
    assert!(ok.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed while instances were replaced: {after:#}"
    );
    let causes: Vec<&str> = after["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["cause"].as_str())
        .collect();
    let replaced = causes
        .iter()
        .filter(|c| **c == "replaced: provider changed")
        .count();
    assert_eq!(replaced, 2, "{causes:?}");

    // Another target group: the same instances serve through it.
    let kept = instance_names(&after);
    ballast.rewrite_config(&reload_config("blue", &renamed, ports, &history));
    ballast.signal("HUP");
    ballast.wait_for_log("configuration reloaded", wait);
    let moved = wait_for(&admin, "the instances in service in blue", wait, |g| {
        g["target_group"] == "blue" && in_service(g) == 2
    })
    .await;
    assert_eq!(instance_names(&moved), kept, "{moved:#}");
    let answer = H1::connect(web).await.get(web, "/").await;
    assert_eq!(answer.status(), 200);
    let targets = admin.get("/api/v1/target-groups/blue/targets").await.json;
    assert_eq!(
        targets["targets"].as_array().map(Vec::len),
        Some(2),
        "{targets:#}"
    );
}
