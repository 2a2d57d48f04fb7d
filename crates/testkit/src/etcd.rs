//! A real single-member etcd (the `etcd` binary, Debian's `etcd-server`) as a child
//! process on loopback, to stop, kill and restart on the same ports and data.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::tls::{Issued, TestCa};

/// How long etcd may take to serve after it is started.
const START_LIMIT: Duration = Duration::from_secs(20);

/// The files of an etcd serving https and requiring client certificates.
struct TlsFiles {
    ca_file: PathBuf,
    ca_pem: String,
    server: Issued,
    /// The certificate this fixture (its probe, [`EtcdProcess::etcdctl`]) presents.
    client: Issued,
}

/// A running etcd. Killed when dropped; its data directory lives as long as this value.
pub struct EtcdProcess {
    /// The client URL (`http://127.0.0.1:PORT`, or `https://` from [`Self::start_tls`]).
    pub url: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    tls: Option<TlsFiles>,
    /// Counts log lines; notified on each, so waits wake when etcd says something.
    log_lines: Arc<(Mutex<u64>, Condvar)>,
}

impl EtcdProcess {
    /// Starts etcd on two free loopback ports (client, peer) below 32768 and waits until
    /// its JSON gateway answers.
    pub fn start() -> EtcdProcess {
        Self::start_with(None)
    }

    /// [`Self::start`] serving https with a certificate for 127.0.0.1 issued by `ca`, and
    /// requiring client certificates issued by `ca` (mutual TLS).
    pub fn start_tls(ca: &TestCa) -> EtcdProcess {
        let tls = TlsFiles {
            ca_file: ca.ca_file(),
            ca_pem: ca.ca_pem().to_owned(),
            // Also the client certificate of etcd's gateway towards its own gRPC server.
            server: ca.issue("etcd-server", &["127.0.0.1", "localhost"]),
            client: ca.issue_client("etcd-probe", "etcd-probe"),
        };
        Self::start_with(Some(tls))
    }

    fn start_with(tls: Option<TlsFiles>) -> EtcdProcess {
        let (client_port, peer_port) = crate::scaling::free_ports(2);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut etcd = EtcdProcess {
            url: format!("{scheme}://127.0.0.1:{client_port}"),
            child: None,
            dir: tempfile::tempdir().unwrap(),
            client_port,
            peer_port,
            tls,
            log_lines: Arc::default(),
        };
        etcd.spawn();
        etcd
    }

    /// The certificate files of an https etcd: (CA, client certificate, client key).
    pub fn tls_files(&self) -> Option<(PathBuf, PathBuf, PathBuf)> {
        let tls = self.tls.as_ref()?;
        Some((
            tls.ca_file.clone(),
            tls.client.cert.clone(),
            tls.client.key.clone(),
        ))
    }

    /// Stops etcd gracefully (SIGTERM), killing it if it has not exited within 10 s.
    pub fn stop(&mut self) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(None)) => self.wait_for_log_line(Duration::from_millis(20)),
                _ => break,
            }
        }
        self.kill();
    }

    /// Kills etcd at once (SIGKILL); its data stays.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same ports and data directory (stopping it first if it
    /// runs), and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Runs `etcdctl` against this etcd (with its TLS files) and returns its stdout;
    /// panics with its stderr if it fails.
    pub fn etcdctl(&self, args: &[&str]) -> String {
        let mut command = Command::new("etcdctl");
        command
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(&self.url);
        if let Some(tls) = &self.tls {
            command
                .arg("--cacert")
                .arg(&tls.ca_file)
                .arg("--cert")
                .arg(&tls.client.cert)
                .arg("--key")
                .arg(&tls.client.key);
        }
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("etcdctl is installed (apt-get install etcd-client)");
        assert!(
            output.status.success(),
            "etcdctl {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Everything etcd has logged so far (all its runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let (client, peer) = (self.client_port, self.peer_port);
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let client_url = format!("{scheme}://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut command = Command::new("etcd");
        command
            .args(["--name", "ballast-test"])
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("ballast-test={peer_url}")]);
        if let Some(tls) = &self.tls {
            command
                .arg("--cert-file")
                .arg(&tls.server.cert)
                .arg("--key-file")
                .arg(&tls.server.key)
                .arg("--trusted-ca-file")
                .arg(&tls.ca_file)
                .arg("--client-cert-auth");
        }
        let log_path = self.dir.path().join("etcd.log");
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let mut child = match command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("etcd is not installed: apt-get install etcd-server")
            }
            Err(e) => panic!("etcd does not start: {e}"),
        };
        // etcd logs to stderr: copied to the log file, each line waking the waits.
        let stderr = child.stderr.take().unwrap();
        let lines = self.log_lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                *lines.0.lock().unwrap() += 1;
                lines.1.notify_all();
            }
        });
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("etcd exited at start: {status}; log:\n{}", self.log());
            }
            if self.answers() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not answer within {START_LIMIT:?}; log:\n{}",
                self.log()
            );
            self.wait_for_log_line(Duration::from_millis(20));
        }
    }

    /// Waits until etcd logs a line, or `limit`.
    fn wait_for_log_line(&self, limit: Duration) {
        let (lock, cvar) = &*self.log_lines;
        let seen = lock.lock().unwrap();
        let count = *seen;
        let _ = cvar
            .wait_timeout_while(seen, limit, |now| *now == count)
            .unwrap();
    }

    /// Whether the gateway answers a range request as etcd (200, or a 4xx refusal once
    /// authentication is on); 503 (no leader yet) is not ready.
    fn answers(&self) -> bool {
        let body = r#"{"key":"AA=="}"#;
        let request = format!(
            "POST /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.client_port,
            body.len()
        );
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.client_port));
        let Ok(tcp) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            return false;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
        let answer = match &self.tls {
            None => exchange(tcp, request.as_bytes()),
            Some(tls) => {
                let config = client_config(tls);
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                let Ok(conn) = rustls::ClientConnection::new(config, name) else {
                    return false;
                };
                exchange(rustls::StreamOwned::new(conn, tcp), request.as_bytes())
            }
        };
        answer.starts_with("HTTP/1.1 2") || answer.starts_with("HTTP/1.1 4")
    }
}

/// Writes `request` and reads the answer's status line (empty on failure).
fn exchange(mut stream: impl Read + Write, request: &[u8]) -> String {
    if stream
        .write_all(request)
        .and_then(|()| stream.flush())
        .is_err()
    {
        return String::new();
    }
    let mut head = [0u8; 12];
    match stream.read_exact(&mut head) {
        Ok(()) => String::from_utf8_lossy(&head).into_owned(),
        Err(_) => String::new(),
    }
}

/// A rustls client trusting the fixture's CA and presenting its client certificate.
fn client_config(tls: &TlsFiles) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(tls.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(tls.client.key_der.clone()));
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(vec![tls.client.der.clone()], key)
    .unwrap();
    Arc::new(config)
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
