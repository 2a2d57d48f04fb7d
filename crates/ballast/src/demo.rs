//! `ballast demo`: Ballast in front of echo backends run as a scaling group (target
//! tracking on requests per target), with the admin API and its live dashboard, all on
//! 127.0.0.1: a newcomer sees the page within the first minute, and sees the group grow
//! under load.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ballast_admin::AdminServer;
use ballast_config::Document;
use ballast_runtime::ScalingGroupStatus;

/// Instances at start (the group's minimum).
const BACKENDS: usize = 3;

/// Starts Ballast on `port` in front of a scaling group of `ballast echo` instances (3 to 8,
/// target tracking at 600 requests per minute per instance), and the admin API (with the
/// dashboard) on `admin_port`.
pub(crate) fn main(port: u16, admin_port: u16) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the ballast executable")?;
    let (first, last) =
        free_ports(16).context("no 16 free ports in a row for the echo instances")?;
    let text = format!(
        r#"
[server]
drain_timeout = "5s"

[admin]
bind = "127.0.0.1:{admin_port}"

[listeners.demo]
bind = "127.0.0.1:{port}"
protocol = "http"
default_action = {{ forward = "echo" }}

[target_groups.echo]
algorithm = "round_robin"
health_check = {{ path = "/health", interval = "1s", timeout = "500ms", healthy_threshold = 2, unhealthy_threshold = 2 }}
deregistration_delay = "5s"

[scaling_groups.echo]
target_group = "echo"
min = {BACKENDS}
max = 8
health_check_grace_period = "30s"
default_instance_warmup = "10s"
history_file = "{history}"
provider = {{ process = {{ command = "'{exe}' echo --port {{port}} --name {{name}}", ports = "{first}-{last}", stop_timeout = "5s" }} }}
policies = [{{ type = "target_tracking", metric = "request_count_per_target", target = 600 }}]
"#,
        exe = exe.display(),
        // The load history outlives a demo run (a second run forecasts from the first's
        // hours), in a place any user may write.
        history = std::env::temp_dir()
            .join("ballast-demo/echo.json")
            .display(),
    );
    let invalid = |e| anyhow::anyhow!("built-in demo config is invalid: {e}");
    let document = Document::from_toml(&text).map_err(invalid)?;
    let config = document.validate().map_err(invalid)?;
    let admin_config = config.admin.clone().context("demo config has no [admin]")?;
    let runtime = Arc::new(ballast_runtime::Runtime::start(config).with_context(|| {
        format!("cannot start the demo listener on 127.0.0.1:{port} (is it in use? try `ballast demo --port 0`)")
    })?);
    // The admin API shows and edits the document as written, as under `ballast run`.
    runtime.set_document(document);
    runtime.start_scaling();
    let admin = AdminServer::start(&admin_config, Arc::clone(&runtime)).with_context(|| {
        format!("cannot start the demo's admin API on 127.0.0.1:{admin_port} (is it in use? try `ballast demo --admin-port 0`)")
    })?;
    let url = runtime
        .listeners()
        .first()
        .map(|(_, a)| format!("http://{a}"))
        .context("demo has no listener")?;
    let group = wait_for_instances(&runtime)?;
    print_banner(&url, &format!("http://{}", admin.address()), &group);
    let signal = crate::run::wait_for_stop_signal()?;
    tracing::info!(signal, "stopping demo");
    crate::run::exit_on_second_signal();
    // The instances are the scaling group's processes: they stop with the runtime.
    runtime.shutdown();
    admin.stop();
    Ok(ExitCode::SUCCESS)
}

/// `n` free ports in a row on 127.0.0.1, below Linux's ephemeral range (32768 and up by
/// default), where the kernel's own choices for outgoing connections do not land.
fn free_ports(n: u16) -> Option<(u16, u16)> {
    let offset = u16::try_from(std::process::id() % 500).unwrap_or(0) * n;
    (0..500u16)
        .map(|i| 20_000 + (offset + i * n) % 12_000)
        .find(|&first| {
            (first..first + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        })
        .map(|first| (first, first + n - 1))
}

/// Waits until the group's first instances are launched and accept connections, so the
/// banner can list them and a request sent right after it is served (a launched process may
/// not be listening yet, and the group fails open to it until its checks pass).
fn wait_for_instances(runtime: &ballast_runtime::Runtime) -> anyhow::Result<ScalingGroupStatus> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let listening = |address: &std::net::SocketAddr| {
        std::net::TcpStream::connect_timeout(address, Duration::from_millis(200)).is_ok()
    };
    loop {
        let status = runtime
            .scaling_status()
            .into_iter()
            .find(|g| g.name == "echo");
        if let Some(group) = status.filter(|g| {
            let addresses: Vec<_> = g.instances.iter().filter_map(|i| i.address).collect();
            addresses.len() >= BACKENDS && addresses.iter().all(listening)
        }) {
            return Ok(group);
        }
        if Instant::now() >= deadline {
            bail!("the demo's echo instances did not start within 30 s");
        }
        // The main thread, before the demo serves its banner: no runtime worker waits here.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn print_banner(url: &str, admin: &str, group: &ScalingGroupStatus) {
    println!("Ballast demo is running.");
    println!();
    println!("  dashboard    {admin}/");
    println!("  listener     {url}");
    println!("  target group echo (round_robin), run by scaling group echo (3 to 8 instances):");
    for instance in &group.instances {
        if let Some(address) = instance.address {
            println!("    {}    http://{address}", instance.name);
        }
    }
    println!();
    println!("Try:");
    println!(
        "  curl -s {url}/hello                       # JSON from echo-1, echo-2, echo-3 in turn"
    );
    println!("  for i in 1 2 3 4 5 6; do curl -s {url}/ | grep -o '\"instance\":\"[^\"]*\"'; done");
    println!("  curl -s --http2-prior-knowledge {url}/h2  # HTTP/2 cleartext to Ballast, HTTP/1.1 to targets");
    println!("  curl -s '{url}/slow?delay=2s'             # the echo backends honour ?delay= and ?status=");
    println!("  curl -si '{url}/?status=503'");
    println!(
        "  curl -s {admin}/api/v1/scaling-groups     # instances, desired capacity, activities"
    );
    println!();
    println!(
        "Load it, and watch the group grow to 8 on the dashboard (3 minutes above 600 requests"
    );
    println!("a minute per instance); it goes back to 3 15 minutes after the load stops:");
    println!("  for i in $(seq 30000); do curl -s -o /dev/null {url}/; done");
    if let Some(id) = group.instances.first().and_then(|i| i.id.clone()) {
        println!("  kill -9 {id}    # an instance dies: requests keep succeeding, and the group");
        println!("                  # launches a replacement within ~10 s");
    }
    println!();
    println!("Press Ctrl-C to stop (the instances stop with it).");
}
