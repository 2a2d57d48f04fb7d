//! `ballast echo` as a child process: a real target that a test can kill and start again on
//! the same port, the way a backend process dies and comes back in production.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `ballast echo`. Killed when dropped.
pub struct EchoProcess {
    pub addr: SocketAddr,
    pub name: String,
    extra: Vec<String>,
    child: Child,
}

impl EchoProcess {
    /// Starts `bin echo --port PORT --name NAME` (port 0 picks a free one) and waits until
    /// it listens.
    pub fn start(bin: &Path, port: u16, name: &str) -> EchoProcess {
        Self::start_with(bin, port, name, &[])
    }

    /// Like [`EchoProcess::start`], with extra `ballast echo` flags (`--delay 150ms`).
    pub fn start_with(bin: &Path, port: u16, name: &str, extra: &[&str]) -> EchoProcess {
        let mut child = Command::new(bin)
            .args(["echo", "--port", &port.to_string(), "--name", name])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "echo NAME listening on http://ADDR"
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from ballast echo: {line:?}"));
        EchoProcess {
            addr,
            name: name.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            child,
        }
    }

    /// Kills the process (SIGKILL) and reaps it: its port refuses connections afterwards.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the same instance again on the same address.
    pub fn restart(&mut self, bin: &Path) {
        self.kill();
        let extra: Vec<String> = self.extra.clone();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        *self = EchoProcess::start_with(bin, self.addr.port(), &self.name.clone(), &extra);
    }
}

/// The `ballast echo` instance that answered (`"instance"` in its JSON).
pub fn echo_instance(body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    json["instance"].as_str().unwrap().to_owned()
}

impl Drop for EchoProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
