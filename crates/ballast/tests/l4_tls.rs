//! TLS on L4 listeners through the real binary: passthrough chosen by SNI (the handshake
//! completes at the targets, whose certificates Ballast never holds), with exact names,
//! wildcards, ALPN and a refusing default; TLS terminated by a `tls` listener and sent on
//! as plain TCP, or encrypted again to a `tls` group.

use std::path::Path;
use std::time::Duration;

use ballast_testkit::admin::AdminClient as Admin;
use ballast_testkit::tls::{tls_connect, ClientOptions, TestCa};
use ballast_testkit::{BallastProcess, TcpEcho, TlsEcho};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const WAIT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// Connects with TLS as `sni` offering `alpn`, and returns the target's first line (its
/// name and the SNI it saw) after checking that an echo comes back through the session.
async fn hello(addr: std::net::SocketAddr, sni: &str, alpn: &[&str]) -> std::io::Result<String> {
    let options = ClientOptions {
        sni: Some(sni.to_owned()),
        alpn: alpn.iter().map(|a| a.as_bytes().to_vec()).collect(),
        ..ClientOptions::default()
    };
    let handshake = tokio::time::timeout(WAIT, tls_connect(addr, &options))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let mut stream = BufReader::new(handshake.stream);
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    stream.get_mut().write_all(b"ping").await?;
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).await?;
    assert_eq!(&back, b"ping");
    Ok(line.trim_end().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_picks_the_group_by_server_name_and_the_targets_terminate() {
    let ca = TestCa::new("passthrough");
    let api = TlsEcho::spawn("api", &ca.issue("api", &["api.example.com"])).await;
    let web = TlsEcho::spawn("web", &ca.issue("web", &["*.example.com"])).await;
    let h2 = TlsEcho::spawn("h2", &ca.issue("h2", &["grpc.example.com"])).await;
    let config = format!(
        r#"
[admin]
bind = "127.0.0.1:0"

[listeners.edge]
bind = "127.0.0.1:0"
protocol = "tcp"
default_action = {{ reject = true }}

[[listeners.edge.rules]]
priority = 10
conditions = {{ sni = ["api.example.com"] }}
action = {{ forward = "api" }}

[[listeners.edge.rules]]
priority = 20
conditions = {{ sni = ["grpc.example.com"], alpn = ["h2"] }}
action = {{ forward = "h2" }}

[[listeners.edge.rules]]
priority = 30
conditions = {{ sni = ["*.example.com"] }}
action = {{ forward = "web" }}

[target_groups.api]
protocol = "tcp"
targets = ["{}"]

[target_groups.web]
protocol = "tcp"
targets = ["{}"]

[target_groups.h2]
protocol = "tcp"
targets = ["{}"]
"#,
        api.addr, web.addr, h2.addr
    );
    let ballast = BallastProcess::start(bin(), &config);
    let addr = ballast.addr("edge");
    assert_eq!(
        hello(addr, "api.example.com", &[]).await.unwrap(),
        "api sni=api.example.com"
    );
    assert_eq!(
        hello(addr, "shop.example.com", &[]).await.unwrap(),
        "web sni=shop.example.com"
    );
    assert_eq!(
        hello(addr, "grpc.example.com", &["h2"]).await.unwrap(),
        "h2 sni=grpc.example.com"
    );
    // The ALPN condition not met: the wildcard rule takes it.
    assert_eq!(
        hello(addr, "grpc.example.com", &["http/1.1"])
            .await
            .unwrap(),
        "web sni=grpc.example.com"
    );
    // An unknown name, and no TLS at all, meet the default action: a refusal.
    assert!(hello(addr, "other.test", &[]).await.is_err());
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = plain.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut nothing = Vec::new();
    let read = tokio::time::timeout(WAIT, plain.read_to_end(&mut nothing))
        .await
        .unwrap();
    assert!(read.is_err() || nothing.is_empty());
    let admin = Admin::new(ballast.admin_addr());
    let rejected = admin
        .metric(
            "ballast_l4_connections_refused_total{listener=\"edge\",reason=\"Listener.Rejected\"}",
        )
        .await;
    assert_eq!(rejected, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hello_in_many_small_segments_is_still_read() {
    let ca = TestCa::new("segments");
    let api = TlsEcho::spawn("api", &ca.issue("api", &["api.example.com"])).await;
    let config = format!(
        "[listeners.edge]\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ndefault_action = {{ reject = true }}\n\n[[listeners.edge.rules]]\npriority = 1\nconditions = {{ sni = [\"api.example.com\"] }}\naction = {{ forward = \"api\" }}\n\n[target_groups.api]\nprotocol = \"tcp\"\ntargets = [\"{}\"]\n",
        api.addr
    );
    let ballast = BallastProcess::start(bin(), &config);
    // A TLS client whose socket sends a few bytes at a time: the ClientHello arrives in
    // dozens of segments.
    let (near, far) = tokio::io::duplex(64);
    let addr = ballast.addr("edge");
    let relay = tokio::spawn(async move {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (mut from_tls, mut to_tls) = tokio::io::split(far);
        let (mut tcp_read, mut tcp_write) = tcp.split();
        let up = async {
            let mut buf = [0u8; 7];
            loop {
                let n = from_tls.read(&mut buf).await.unwrap_or(0);
                if n == 0 || tcp_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let down = tokio::io::copy(&mut tcp_read, &mut to_tls);
        let _ = tokio::join!(up, down);
    });
    let config = ballast_testkit::tls::verifying_client(ca.ca_pem());
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect("api.example.com".try_into().unwrap(), near)
        .await
        .unwrap();
    let mut line = [0u8; 24];
    tls.read_exact(&mut line).await.unwrap();
    assert_eq!(&line, b"api sni=api.example.com\n");
    drop(tls);
    relay.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_listener_terminates_and_forwards_plain_or_encrypted_again() {
    let ca = TestCa::new("terminate");
    let front = ca.issue("front", &["db.example.com"]);
    let plain = TcpEcho::spawn().await;
    let again = TlsEcho::spawn("inner", &ca.issue("inner", &["inner.example.com"])).await;
    let config = format!(
        r#"
[listeners.plain]
bind = "127.0.0.1:0"
protocol = "tls"
default_action = {{ forward = "plain" }}
tls = {{ certificates = [{{ cert = "{cert}", key = "{key}" }}] }}

[listeners.again]
bind = "127.0.0.1:0"
protocol = "tls"
default_action = {{ forward = "again" }}
tls = {{ certificates = [{{ cert = "{cert}", key = "{key}" }}] }}

[target_groups.plain]
protocol = "tcp"
targets = ["{plain}"]

[target_groups.again]
protocol = "tls"
targets = ["{again}"]
tls = {{ ca = "{ca}", server_name = "inner.example.com" }}
"#,
        cert = front.cert.display(),
        key = front.key.display(),
        plain = plain.addr,
        again = again.addr,
        ca = ca.ca_file().display(),
    );
    let ballast = BallastProcess::start(bin(), &config);
    // Verified against the CA: the client sees Ballast's certificate for db.example.com.
    let verified = ballast_testkit::tls::tls_connect_verified(
        ballast.addr("plain"),
        "db.example.com",
        ca.ca_pem(),
    )
    .await
    .unwrap();
    assert!(
        verified.alpn.is_none(),
        "a tls listener offers no ALPN of its own"
    );
    let mut stream = verified.stream;
    stream.write_all(b"hello over tls").await.unwrap();
    let mut back = [0u8; 14];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello over tls");
    let inner = ballast_testkit::tls::tls_connect_verified(
        ballast.addr("again"),
        "db.example.com",
        ca.ca_pem(),
    )
    .await
    .unwrap();
    let mut stream = BufReader::new(inner.stream);
    let mut line = String::new();
    stream.read_line(&mut line).await.unwrap();
    assert_eq!(line, "inner sni=inner.example.com\n");
}
