//! The `process` provider: each instance is a local process Ballast starts from a command
//! line with `{port}`, `{name}` and `{zone}` filled in, on a port of its own from a range. It
//! is stopped with SIGTERM, then SIGKILL after the stop timeout; its output goes to a file
//! of its own; its CPU use is read from /proc.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::provider::{Launched, Provider, ProviderError, ProviderFuture};

/// Local processes as instances.
pub struct ProcessProvider {
    command: String,
    ports: RangeInclusive<u16>,
    stop_timeout: Duration,
    log_dir: Option<PathBuf>,
    running: BTreeMap<String, Running>,
}

struct Running {
    child: Child,
    port: u16,
    /// CPU ticks and when they were read, for the next CPU reading.
    last_cpu: Option<(u64, Instant)>,
}

impl ProcessProvider {
    /// A provider running `command` (a shell command line) on ports of `ports`.
    pub fn new(
        command: &str,
        ports: RangeInclusive<u16>,
        stop_timeout: Duration,
        log_dir: Option<PathBuf>,
    ) -> Self {
        Self {
            command: command.to_owned(),
            ports,
            stop_timeout,
            log_dir,
            running: BTreeMap::new(),
        }
    }

    /// A port of the range no instance uses and nothing else listens on.
    fn free_port(&self) -> Option<u16> {
        let taken: Vec<u16> = self.running.values().map(|r| r.port).collect();
        self.ports.clone().find(|p| {
            !taken.contains(p) && std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, *p)).is_ok()
        })
    }

    fn output(&self, name: &str) -> Result<(Stdio, Stdio), ProviderError> {
        let Some(dir) = &self.log_dir else {
            return Ok((Stdio::null(), Stdio::null()));
        };
        let io = |source| ProviderError::Io {
            what: format!("log file of {name} in {}", dir.display()),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{name}.log")))
            .map_err(io)?;
        let copy = file.try_clone().map_err(io)?;
        Ok((Stdio::from(file), Stdio::from(copy)))
    }

    fn start(&mut self, name: &str, zone: Option<&str>) -> Result<Launched, ProviderError> {
        let port = self.free_port().ok_or_else(|| {
            ProviderError::NoPort(format!("{}-{}", self.ports.start(), self.ports.end()))
        })?;
        let line = self
            .command
            .replace("{port}", &port.to_string())
            .replace("{name}", name)
            .replace("{zone}", zone.unwrap_or(""));
        let (stdout, stderr) = self.output(name)?;
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&line)
            // A process group of its own: signals reach whatever the command line started,
            // not only the shell around it.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ProviderError::Io {
                what: format!("starting {line:?}"),
                source,
            })?;
        let id = child
            .id()
            .map_or_else(|| name.to_owned(), |pid| pid.to_string());
        self.running.insert(
            id.clone(),
            Running {
                child,
                port,
                last_cpu: None,
            },
        );
        Ok(Launched {
            id,
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            zone: zone.map(str::to_owned),
        })
    }

    async fn stop(&mut self, id: &str) -> Result<(), ProviderError> {
        let Some(mut running) = self.running.remove(id) else {
            return Ok(());
        };
        let group = running
            .child
            .id()
            .and_then(|p| rustix::process::Pid::from_raw(p as i32));
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
        }
        match tokio::time::timeout(self.stop_timeout, running.child.wait()).await {
            Ok(_) => {
                // The shell is gone; anything it started that outlived it goes too.
                if let Some(group) = group {
                    let _ =
                        rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                }
                Ok(())
            }
            Err(_) => {
                if let Some(group) = group {
                    let _ =
                        rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                }
                let _ = running.child.start_kill();
                running
                    .child
                    .wait()
                    .await
                    .map(|_| ())
                    .map_err(|source| ProviderError::Io {
                        what: format!("killing {id}"),
                        source,
                    })
            }
        }
    }
}

impl Provider for ProcessProvider {
    fn launch<'a>(
        &'a mut self,
        name: &'a str,
        zone: Option<&'a str>,
    ) -> ProviderFuture<'a, Result<Launched, ProviderError>> {
        Box::pin(async move { self.start(name, zone) })
    }

    fn terminate<'a>(&'a mut self, id: &'a str) -> ProviderFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.stop(id))
    }

    /// The processes this provider started (a new Ballast process starts none of them: it
    /// cannot tell another's children from strangers').
    fn list(&mut self) -> ProviderFuture<'_, Result<Option<Vec<Launched>>, ProviderError>> {
        Box::pin(async { Ok(None) })
    }

    fn exited(&mut self) -> Vec<String> {
        let mut gone = Vec::new();
        for (id, running) in &mut self.running {
            if !matches!(running.child.try_wait(), Ok(None)) {
                gone.push(id.clone());
            }
        }
        for id in &gone {
            self.running.remove(id);
        }
        gone
    }

    fn cpu(&mut self, id: &str) -> Option<f64> {
        let running = self.running.get_mut(id)?;
        let pid = running.child.id()?;
        let ticks = cpu_ticks(pid)?;
        let now = Instant::now();
        let before = running.last_cpu.replace((ticks, now));
        let (ticks_then, then) = before?;
        let seconds = now.duration_since(then).as_secs_f64();
        let per_second = rustix::param::clock_ticks_per_second() as f64;
        (seconds > 0.0)
            .then(|| (ticks.saturating_sub(ticks_then) as f64 / per_second) / seconds * 100.0)
    }
}

impl Drop for ProcessProvider {
    /// Instances are Ballast's children: they end with it (each whole process group, so a
    /// shell's child goes too).
    fn drop(&mut self) {
        for running in self.running.values_mut() {
            if let Some(group) = running
                .child
                .id()
                .and_then(|p| rustix::process::Pid::from_raw(p as i32))
            {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
        }
    }
}

/// User plus system CPU ticks of process `pid`, from /proc/PID/stat.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing paren.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

impl ProcessProvider {
    /// The ids of the instances running now.
    pub fn ids(&self) -> Vec<String> {
        self.running.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests;
