//! Pebble, Let's Encrypt's test ACME server, and its DNS stub (`pebble-challtestsrv`), as
//! child processes on loopback (Debian's `pebble` package ships both).
//!
//! Pebble validates challenges by connecting to fixed ports of the names it is asked for,
//! so the ports of the Ballast listeners under test are chosen first ([`free_port`]) and
//! written into Pebble's configuration; the DNS stub answers every name with 127.0.0.1.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

use crate::tls::TestCa;

/// A running Pebble and DNS stub. Both are killed when dropped.
pub struct Pebble {
    pebble: Child,
    dns: Child,
    ca: TestCa,
    /// The ACME directory URL.
    pub directory: String,
    /// Pebble's management API (`/roots/0`).
    pub management: SocketAddr,
}

/// A loopback port free for both TCP and UDP right now (for configurations that must name
/// their port before the process binds it), below Linux's ephemeral range: a port the kernel
/// handed out could be taken again as the source port of any outgoing connection before the
/// process binds it.
pub fn free_port() -> u16 {
    let start = fastrand::u16(0..12_000);
    (0..12_000u16)
        .map(|i| 20_000 + (start + i) % 12_000)
        .find(|&port| {
            TcpListener::bind(("127.0.0.1", port)).is_ok()
                && UdpSocket::bind(("127.0.0.1", port)).is_ok()
        })
        .expect("a port below 32768 free on TCP and UDP")
}

/// Whether the `pebble` and `pebble-challtestsrv` binaries are installed.
pub fn pebble_installed() -> bool {
    ["pebble", "pebble-challtestsrv"].iter().all(|bin| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(bin).is_file()))
    })
}

impl Pebble {
    /// Starts the DNS stub and Pebble, validating `http-01` on `http_port` and
    /// `tls-alpn-01` on `tls_port` of 127.0.0.1, and waits until the directory answers.
    pub async fn start(http_port: u16, tls_port: u16) -> Pebble {
        let ca = TestCa::new("pebble test ca");
        let server = ca.issue("pebble", &["127.0.0.1", "localhost"]);
        let (dns_port, dns_management) = (free_port(), free_port());
        let dns = Command::new("pebble-challtestsrv")
            .args(["-defaultIPv6", "", "-defaultIPv4", "127.0.0.1"])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv starts");
        let (listen, management) = (free_port(), free_port());
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{listen}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": server.cert,
                "privateKey": server.key,
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        let config_file = ca.dir().join("pebble-config.json");
        std::fs::write(&config_file, config.to_string()).unwrap();
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(&config_file)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            // Validate at once instead of after a random sleep of up to 15 s.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble starts");
        let mut started = Pebble {
            pebble,
            dns,
            ca,
            directory: format!("https://127.0.0.1:{listen}/dir"),
            management: SocketAddr::from(([127, 0, 0, 1], management)),
        };
        let directory = SocketAddr::from(([127, 0, 0, 1], listen));
        let dns_up = SocketAddr::from(([127, 0, 0, 1], dns_management));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = started.pebble.try_wait().unwrap() {
                panic!("pebble exited at start: {status}");
            }
            let dns_ready = TcpStream::connect(dns_up).is_ok();
            if dns_ready && started.get(directory, "/dir").await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "pebble did not start within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        started
    }

    /// The CA bundle Pebble's own HTTPS is served with (Ballast's `acme.ca`).
    pub fn server_ca_file(&self) -> PathBuf {
        self.ca.ca_file()
    }

    /// The root that issues Pebble's certificates (from its management API), PEM. Pebble
    /// makes a new one each time it starts.
    pub async fn issuing_root(&self) -> String {
        let body = self.get(self.management, "/roots/0").await.unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    /// Stops Pebble and the DNS stub now (a CA that is down); its files stay.
    pub fn stop(&mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        for child in [&mut self.pebble, &mut self.dns] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// GET over HTTPS from Pebble (verified with the test CA), the body if 200.
    async fn get(&self, addr: SocketAddr, path: &str) -> Result<Bytes, String> {
        let config = crate::tls::verifying_client(self.ca.ca_pem());
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = http::Request::get(path)
            .header("host", addr.to_string())
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
        if response.status() != 200 {
            return Err(format!("{path}: {}", response.status()));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(body.to_bytes())
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.kill();
    }
}
