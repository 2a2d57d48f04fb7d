//! `ballast demo`: Ballast in front of three echo backends, with the admin API and its live
//! dashboard, all on 127.0.0.1: a newcomer sees the page within the first minute.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;

use anyhow::{bail, Context};
use ballast_admin::AdminServer;
use ballast_config::Document;

const BACKENDS: usize = 3;

/// A backend child process, killed when dropped so none outlives the demo.
struct Backend {
    child: Child,
    address: String,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts three `ballast echo` children, Ballast in front of them on `port`, and the admin
/// API (with the dashboard) on `admin_port`.
pub(crate) fn main(port: u16, admin_port: u16) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the ballast executable")?;
    let backends = (1..=BACKENDS)
        .map(|i| spawn_backend(&exe, &format!("echo-{i}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let targets: Vec<String> = backends
        .iter()
        .map(|b| format!("\"{}\"", b.address))
        .collect();
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
targets = [{targets}]
health_check = {{ path = "/health", interval = "1s", timeout = "500ms", healthy_threshold = 2, unhealthy_threshold = 2 }}
deregistration_delay = "5s"
"#,
        targets = targets.join(", ")
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
    let admin = AdminServer::start(&admin_config, Arc::clone(&runtime)).with_context(|| {
        format!("cannot start the demo's admin API on 127.0.0.1:{admin_port} (is it in use? try `ballast demo --admin-port 0`)")
    })?;
    let url = runtime
        .listeners()
        .first()
        .map(|(_, a)| format!("http://{a}"))
        .context("demo has no listener")?;
    print_banner(&url, &format!("http://{}", admin.address()), &backends);
    let signal = crate::run::wait_for_stop_signal()?;
    tracing::info!(signal, "stopping demo");
    crate::run::exit_on_second_signal();
    runtime.shutdown();
    admin.stop();
    drop(backends);
    Ok(ExitCode::SUCCESS)
}

fn spawn_backend(exe: &std::path::Path, name: &str) -> anyhow::Result<Backend> {
    let mut child = Command::new(exe)
        .args([
            "echo",
            "--port",
            "0",
            "--name",
            name,
            "--exit-on-stdin-close",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start an echo backend")?;
    let stdout = child.stdout.take().context("echo backend has no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("cannot read from an echo backend")?;
    let Some(address) = line
        .trim()
        .rsplit("http://")
        .next()
        .filter(|a| !a.is_empty() && line.contains("listening"))
    else {
        let _ = child.kill();
        bail!("echo backend {name} did not start: {line:?}");
    };
    Ok(Backend {
        address: address.to_owned(),
        child,
    })
}

fn print_banner(url: &str, admin: &str, backends: &[Backend]) {
    println!("Ballast demo is running.");
    println!();
    println!("  dashboard    {admin}/");
    println!("  listener     {url}");
    println!("  target group echo (round_robin):");
    for (i, backend) in backends.iter().enumerate() {
        println!("    echo-{}    http://{}", i + 1, backend.address);
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
    println!("  curl -s {admin}/api/v1/target-groups   # targets and their health (the dashboard's data)");
    if let Some(pid) = backends.first().map(|b| b.child.id()) {
        println!(
            "  kill -9 {pid}    # stop echo-1: requests keep succeeding, and within ~2.5 s the"
        );
        println!(
            "                   # log says \"target health changed ... to=unhealthy\" and the"
        );
        println!("                   # dashboard shows it red");
    }
    println!();
    println!("Press Ctrl-C to stop (backends stop with it).");
}
