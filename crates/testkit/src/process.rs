//! The real `ballast` binary as a child process, driven the way an operator drives it:
//! a config file, signals, and its JSON log on stderr.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A running `ballast run`. Killed when dropped.
pub struct BallastProcess {
    child: Child,
    _dir: tempfile::TempDir,
    log: Arc<(Mutex<Vec<serde_json::Value>>, Condvar)>,
    listeners: HashMap<String, SocketAddr>,
}

impl BallastProcess {
    /// Writes `config` to a file, starts `bin run -c FILE`, and waits until it says it started.
    pub fn start(bin: &Path, config: &str) -> BallastProcess {
        Self::start_limited(bin, config, None)
    }

    /// [`BallastProcess::start`] under a file-descriptor limit (`ulimit -n`), as a host
    /// with a low limit would run it.
    pub fn start_with_fd_limit(bin: &Path, config: &str, limit: u64) -> BallastProcess {
        Self::start_limited(bin, config, Some(limit))
    }

    fn start_limited(bin: &Path, config: &str, fd_limit: Option<u64>) -> BallastProcess {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ballast.toml");
        std::fs::write(&path, config).unwrap();
        let mut command = match fd_limit {
            None => Command::new(bin),
            Some(limit) => {
                // The shell sets the limit (soft and hard) and becomes Ballast.
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(bin);
                sh
            }
        };
        let mut child = command
            .args(["run", "-c"])
            .arg(&path)
            .args(["--log-format", "json", "--log-level", "info"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log: Arc<(Mutex<Vec<serde_json::Value>>, Condvar)> = Arc::default();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
                sink.0.lock().unwrap().push(value);
                sink.1.notify_all();
            }
        });
        let mut process = BallastProcess {
            child,
            _dir: dir,
            log,
            listeners: HashMap::new(),
        };
        process.wait_for_log("ballast started", Duration::from_secs(20));
        for event in process.events() {
            if event["message"] == "listener started" {
                let name = event["listener"].as_str().unwrap().to_owned();
                let addr = event["addr"].as_str().unwrap().parse().unwrap();
                process.listeners.insert(name, addr);
            }
        }
        process
    }

    /// Rewrites the configuration file (for a reload by SIGHUP).
    pub fn rewrite_config(&self, config: &str) {
        std::fs::write(self._dir.path().join("ballast.toml"), config).unwrap();
    }

    /// The bound address of a listener.
    pub fn addr(&self, listener: &str) -> SocketAddr {
        *self
            .listeners
            .get(listener)
            .unwrap_or_else(|| panic!("no listener {listener:?} in {:?}", self.listeners))
    }

    /// The admin API's address, from its "admin API started" log line.
    pub fn admin_addr(&self) -> SocketAddr {
        let event = self.wait_for_log("admin API started", Duration::from_secs(10));
        event["addr"].as_str().unwrap().parse().unwrap()
    }

    /// The path of the configuration file the process was started with.
    pub fn config_path(&self) -> std::path::PathBuf {
        self._dir.path().join("ballast.toml")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "ballast did not exit within {limit:?}"
            );
            let (lock, cvar) = &*self.log;
            // Wake on new log lines or every 20 ms, whichever comes first.
            let guard = lock.lock().unwrap();
            let _ = cvar.wait_timeout(guard, Duration::from_millis(20)).unwrap();
        }
    }

    /// Waits up to `limit` for the process to exit; `None` if it is still running.
    pub fn try_wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            let (lock, cvar) = &*self.log;
            let guard = lock.lock().unwrap();
            let _ = cvar.wait_timeout(guard, Duration::from_millis(20)).unwrap();
        }
    }

    /// Every JSON log event so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.log.0.lock().unwrap().clone()
    }

    /// Log events whose message equals `message`.
    pub fn events_with(&self, message: &str) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e["message"] == message)
            .collect()
    }

    /// Blocks until an event with this message is logged, or panics after `limit`.
    pub fn wait_for_log(&self, message: &str, limit: Duration) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        let (lock, cvar) = &*self.log;
        let mut events = lock.lock().unwrap();
        loop {
            if let Some(event) = events.iter().find(|e| e["message"] == message) {
                return event.clone();
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "no log event {message:?} within {limit:?}; log so far: {events:#?}"
            );
            events = cvar.wait_timeout(events, deadline - now).unwrap().0;
        }
    }

    /// Blocks until an event satisfying `matches` is logged, or panics after `limit`
    /// naming `what`.
    pub fn wait_for_event(
        &self,
        what: &str,
        limit: Duration,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        let (lock, cvar) = &*self.log;
        let mut events = lock.lock().unwrap();
        loop {
            if let Some(event) = events.iter().find(|e| matches(e)) {
                return event.clone();
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "no log event for {what} within {limit:?}; log so far: {events:#?}"
            );
            events = cvar.wait_timeout(events, deadline - now).unwrap().0;
        }
    }

    /// Blocks until the target at `target` is logged moving to health state `to`
    /// (`healthy`, `unhealthy`, ...); returns that event.
    pub fn wait_for_health(
        &self,
        target: SocketAddr,
        to: &str,
        limit: Duration,
    ) -> serde_json::Value {
        let target = target.to_string();
        self.wait_for_event(&format!("{target} to become {to}"), limit, |e| {
            e["message"] == "target health changed"
                && e["target"] == target.as_str()
                && e["to"] == to
        })
    }

    /// Peak resident memory of the process so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for BallastProcess {
    /// Kills the process, and first the instances its `process` providers launched: each
    /// runs in a process group of its own and stops with Ballast only when Ballast stops
    /// gracefully, so a killed Ballast would leave them running after the test.
    fn drop(&mut self) {
        for group in child_groups(self.child.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Process groups led by children of `pid` (from `/proc/*/stat`: parent and group ids).
fn child_groups(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&candidate| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{candidate}/stat")) else {
                return false;
            };
            // After the command name (which may hold spaces): state, parent, group.
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            let mut fields = stat[close + 1..].split_whitespace().skip(1);
            let parent = fields.next().and_then(|f| f.parse::<u32>().ok());
            let group = fields.next().and_then(|f| f.parse::<u32>().ok());
            parent == Some(pid) && group == Some(candidate)
        })
        .collect()
}
