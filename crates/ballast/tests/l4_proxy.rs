//! PROXY protocol on L4 listeners through the real binary: v1 and v2 headers sent to
//! targets (read back with `ppp`, a PROXY protocol parser that is not ours), the SNI of a
//! passthrough connection as a v2 TLV, headers accepted from a trusted load balancer in
//! front (its client address passed on), and connections from anywhere else, or with a
//! malformed header, closed and counted.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ballast_testkit::admin::AdminClient as Admin;
use ballast_testkit::{wait_until, BallastProcess, TcpEcho};
use ppp::HeaderResult;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn config(target: SocketAddr, listener: &str, group: &str) -> String {
    let listener = if listener.contains("default_action") {
        listener.to_owned()
    } else {
        format!("default_action = {{ forward = \"echo\" }}\n{listener}")
    };
    format!(
        "[admin]\nbind = \"127.0.0.1:0\"\n\n[listeners.db]\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\n{listener}\n\n[target_groups.echo]\nprotocol = \"tcp\"\ntargets = [\"{target}\"]\n{group}\n"
    )
}

/// Sends `bytes`, reads back as many, and returns the target's first bytes of the
/// connection.
async fn through(addr: SocketAddr, target: &TcpEcho, bytes: &[u8]) -> (SocketAddr, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut back = Vec::new();
    let mut buf = [0u8; 1024];
    while !back.ends_with(bytes) {
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early: {back:?}");
        back.extend_from_slice(&buf[..n]);
    }
    let first = target.first_bytes.lock().unwrap().last().cloned().unwrap();
    (local, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_and_v2_headers_reach_targets_as_a_standard_parser_reads_them() {
    // A deferred listener reads the client's bytes at accept and sends them in one send with
    // the header; the other relays them after it.
    for (version, defer) in [("v1", false), ("v2", false), ("v1", true), ("v2", true)] {
        let target = TcpEcho::spawn().await;
        let ballast = BallastProcess::start(
            bin(),
            &config(
                target.addr,
                &format!("defer_accept = {defer}"),
                &format!("proxy_protocol = \"{version}\""),
            ),
        );
        let listener = ballast.addr("db");
        let (client, first) = through(listener, &target, b"hello").await;
        let (source, destination, consumed) = match HeaderResult::parse(&first) {
            HeaderResult::V1(Ok(h)) => match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => (
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                    h.header.len(),
                ),
                other => panic!("{other:?}"),
            },
            HeaderResult::V2(Ok(h)) => match h.addresses {
                ppp::v2::Addresses::IPv4(a) => (
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                    h.len(),
                ),
                other => panic!("{other:?}"),
            },
            other => panic!("{version}, deferred {defer}: {other:?} from {first:?}"),
        };
        assert_eq!(source, client, "{version}, deferred {defer}");
        assert_eq!(destination, listener, "{version}, deferred {defer}");
        assert_eq!(&first[consumed..], b"hello", "{version}, deferred {defer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passthrough_connection_sends_its_server_name_as_a_v2_tlv() {
    let target = TcpEcho::spawn().await;
    let listener = "default_action = { reject = true }\n\n[[listeners.db.rules]]\npriority = 1\nconditions = { sni = [\"*.example.com\"] }\naction = { forward = \"echo\" }";
    let ballast = BallastProcess::start(
        bin(),
        &config(target.addr, listener, "proxy_protocol = \"v2\""),
    );
    let options = ballast_testkit::tls::ClientOptions {
        sni: Some("db.example.com".to_owned()),
        ..Default::default()
    };
    // The echo target is no TLS server: the handshake fails, but the header came first.
    let _ = tokio::time::timeout(
        WAIT,
        ballast_testkit::tls::tls_connect(ballast.addr("db"), &options),
    )
    .await;
    wait_until("the target to see the connection", WAIT, || {
        !target.first_bytes.lock().unwrap().is_empty()
    })
    .await;
    let first = target.first_bytes.lock().unwrap()[0].clone();
    let HeaderResult::V2(Ok(header)) = HeaderResult::parse(&first) else {
        panic!("{first:?}");
    };
    let authority: Vec<Vec<u8>> = header
        .tlvs()
        .filter_map(Result::ok)
        .filter(|t| t.kind == 0x02)
        .map(|t| t.value.to_vec())
        .collect();
    assert_eq!(authority, vec![b"db.example.com".to_vec()]);
    // The ClientHello follows the header untouched (a TLS handshake record).
    assert_eq!(first.get(header.len()), Some(&22u8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_load_balancers_header_is_believed_and_passed_on() {
    let target = TcpEcho::spawn().await;
    let ballast = BallastProcess::start(
        bin(),
        &config(
            target.addr,
            "accept_proxy_protocol = [\"127.0.0.0/8\"]",
            "proxy_protocol = \"v1\"",
        ),
    );
    // What an upstream load balancer sends: a v2 header (built by ppp) for its client.
    let header = ppp::v2::Builder::with_addresses(
        ppp::v2::Version::Two | ppp::v2::Command::Proxy,
        ppp::v2::Protocol::Stream,
        ppp::v2::IPv4::new([203, 0, 113, 7], [198, 51, 100, 1], 4242, 443),
    )
    .build()
    .unwrap();
    let mut sent = header.clone();
    sent.extend_from_slice(b"hi");
    let mut stream = TcpStream::connect(ballast.addr("db")).await.unwrap();
    stream.write_all(&sent).await.unwrap();
    // The echo target sends back the header Ballast wrote to it, then "hi".
    let mut back = Vec::new();
    let mut buf = [0u8; 256];
    while !back.ends_with(b"hi") {
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        back.extend_from_slice(&buf[..n]);
    }
    let first = target.first_bytes.lock().unwrap()[0].clone();
    assert_eq!(
        String::from_utf8_lossy(&first),
        "PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\r\nhi"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_from_untrusted_addresses_or_malformed_ones_close_the_connection() {
    let target = TcpEcho::spawn().await;
    let untrusted = BallastProcess::start(
        bin(),
        &config(target.addr, "accept_proxy_protocol = [\"10.0.0.0/8\"]", ""),
    );
    let trusted = BallastProcess::start(
        bin(),
        &config(
            target.addr,
            "accept_proxy_protocol = [\"127.0.0.1/32\"]",
            "",
        ),
    );
    let cases = [
        (
            &untrusted,
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nhi".as_slice(),
            "Client.UntrustedProxy",
        ),
        (
            &trusted,
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\nhi".as_slice(),
            "Client.BadProxyHeader",
        ),
        (
            &trusted,
            b"GET / HTTP/1.1\r\n\r\n".as_slice(),
            "Client.BadProxyHeader",
        ),
    ];
    for (ballast, bytes, reason) in cases {
        let mut stream = TcpStream::connect(ballast.addr("db")).await.unwrap();
        let _ = stream.write_all(bytes).await;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
            .await
            .unwrap();
        assert!(read.is_err() || rest.is_empty(), "{reason}: {rest:?}");
        let admin = Admin::new(ballast.admin_addr());
        let sample =
            format!("ballast_l4_connections_refused_total{{listener=\"db\",reason=\"{reason}\"}}");
        assert!(admin.metric(&sample).await >= 1.0, "{sample}");
    }
    assert_eq!(target.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_listener_behind_a_load_balancer_reads_its_proxy_header() {
    let backend = ballast_testkit::Backend::spawn("app").await;
    let config = ballast_testkit::web_app_config(
        &[backend.addr],
        "",
        "accept_proxy_protocol = [\"127.0.0.0/8\"]\n[admin]\nbind = \"127.0.0.1:0\"",
        "",
    );
    let ballast = BallastProcess::start(bin(), &config);
    let mut stream = TcpStream::connect(ballast.addr("web")).await.unwrap();
    // A v1 header and the request behind it in one write, as a load balancer sends them.
    stream
        .write_all(b"PROXY TCP4 203.0.113.9 198.51.100.1 5555 80\r\nGET /who HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = &backend.recorded()[0];
    assert_eq!(seen.headers["x-forwarded-for"], "203.0.113.9");
    // Without a header the connection is closed before any HTTP, and counted.
    let mut bare = TcpStream::connect(ballast.addr("web")).await.unwrap();
    let _ = bare.write_all(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n").await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(WAIT, bare.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(read.is_err() || rest.is_empty(), "{rest:?}");
    assert_eq!(backend.hits(), 1);
    let admin = Admin::new(ballast.admin_addr());
    let refused =
        "ballast_l4_connections_refused_total{listener=\"web\",reason=\"Client.BadProxyHeader\"}";
    assert_eq!(admin.metric(refused).await, 1.0);
}
