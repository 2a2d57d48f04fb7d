//! PROXY protocol headers sent by HTTP groups, through the real binary: every target
//! connection starts with a header (read back with `ppp`, a parser that is not ours) naming
//! the client it serves, and carries that client's requests only, whether the client spoke
//! HTTP/1.1 or HTTP/2, directly or through a load balancer in front that sent its own header.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ballast_testkit::BallastProcess;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ppp::HeaderResult;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// An HTTP/1.1 target behind PROXY headers: each connection must start with one, and
/// every response names the connection (a number) and the header's two addresses:
/// `"<connection> <source> <destination>"`.
struct ProxiedTarget {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

/// The addresses a v1 `UNKNOWN` or v2 `LOCAL` header stands for in the target's answers:
/// none (a health check's connection).
const NO_ADDRESS: &str = "0.0.0.0:0";

impl ProxiedTarget {
    async fn spawn() -> ProxiedTarget {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let id = count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, id));
            }
        });
        ProxiedTarget { addr, connections }
    }
}

/// Reads the PROXY header (closing the connection without one), then answers requests.
async fn serve(mut stream: TcpStream, id: usize) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let (source, destination, consumed) = loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let parsed = match HeaderResult::parse(&buf) {
            HeaderResult::V1(Ok(h)) => match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => Some((
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                    h.header.len(),
                )),
                ppp::v1::Addresses::Unknown => {
                    let none = NO_ADDRESS.parse().unwrap();
                    Some((none, none, h.header.len()))
                }
                _ => return,
            },
            HeaderResult::V2(Ok(h)) => match (h.command, h.addresses) {
                (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv4(a)) => Some((
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                    h.len(),
                )),
                (ppp::v2::Command::Local, ppp::v2::Addresses::Unspecified) => {
                    let none = NO_ADDRESS.parse().unwrap();
                    Some((none, none, h.len()))
                }
                _ => return,
            },
            // A header split over reads: wait for the rest (a request instead is refused).
            _ if buf.len() < 232 && (buf.starts_with(b"PROXY") || buf.starts_with(b"\r\n")) => None,
            _ => return,
        };
        if let Some(found) = parsed {
            break found;
        }
    };
    buf.drain(..consumed);
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        buf.drain(..end);
        let body = format!("{id} {source} {destination}");
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn config(target: SocketAddr, version: &str, listener: &str) -> String {
    format!(
        "[listeners.web]\nbind = \"127.0.0.1:0\"\nprotocol = \"http\"\ndefault_action = {{ forward = \"app\" }}\n{listener}\n\n[target_groups.app]\ntargets = [\"{target}\"]\nproxy_protocol = \"{version}\"\n"
    )
}

/// A keep-alive HTTP/1.1 client on a raw socket, so its own address is known.
struct Client {
    stream: TcpStream,
    local: SocketAddr,
}

impl Client {
    async fn connect(addr: SocketAddr, prelude: &[u8]) -> Client {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        stream.write_all(prelude).await.unwrap();
        Client { stream, local }
    }

    /// One GET; the response body split into `(connection, source, destination)`.
    async fn get(&mut self) -> (String, SocketAddr, SocketAddr) {
        self.try_get().await.expect("a 200 response")
    }

    /// One GET: `None` if the answer is not a 200.
    async fn try_get(&mut self) -> Option<(String, SocketAddr, SocketAddr)> {
        self.stream
            .write_all(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .expect("content-length")
                    .trim()
                    .parse()
                    .unwrap();
                if body.len() >= length {
                    return head.starts_with("HTTP/1.1 200").then(|| split(body));
                }
            }
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "closed: {text}");
            got.extend_from_slice(&chunk[..n]);
        }
    }
}

fn split(body: &str) -> (String, SocketAddr, SocketAddr) {
    let mut parts = body.split(' ');
    let id = parts.next().unwrap().to_owned();
    let source = parts.next().unwrap().parse().unwrap();
    let destination = parts.next().unwrap().parse().unwrap();
    (id, source, destination)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_gets_target_connections_of_its_own_named_by_their_header() {
    for version in ["v1", "v2"] {
        let target = ProxiedTarget::spawn().await;
        let ballast = BallastProcess::start(bin(), &config(target.addr, version, ""));
        let listener = ballast.addr("web");
        let mut first = Client::connect(listener, b"").await;
        let mut second = Client::connect(listener, b"").await;
        let mut seen = Vec::new();
        // Interleaved keep-alive requests: neither client's may travel on the other's
        // target connection, and each reuses its own.
        for _ in 0..3 {
            for client in [&mut first, &mut second] {
                let (id, source, destination) = client.get().await;
                assert_eq!(source, client.local, "{version}");
                assert_eq!(destination, listener, "{version}");
                seen.push((client.local, id));
            }
        }
        for client in [first.local, second.local] {
            let ids: std::collections::HashSet<_> = seen
                .iter()
                .filter(|(c, _)| *c == client)
                .map(|(_, id)| id.clone())
                .collect();
            assert_eq!(
                ids.len(),
                1,
                "{version}: one connection per client: {seen:?}"
            );
        }
        assert_eq!(target.connections.load(Ordering::SeqCst), 2, "{version}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_addresses_a_trusted_load_balancer_told_are_passed_on() {
    let target = ProxiedTarget::spawn().await;
    let ballast = BallastProcess::start(
        bin(),
        &config(
            target.addr,
            "v2",
            "accept_proxy_protocol = [\"127.0.0.0/8\"]",
        ),
    );
    let told = b"PROXY TCP4 203.0.113.9 198.51.100.1 5555 80\r\n";
    let mut client = Client::connect(ballast.addr("web"), told).await;
    let (_, source, destination) = client.get().await;
    assert_eq!(source, "203.0.113.9:5555".parse().unwrap());
    assert_eq!(destination, "198.51.100.1:80".parse().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_clients_requests_go_on_a_connection_named_for_it() {
    let target = ProxiedTarget::spawn().await;
    let ballast = BallastProcess::start(bin(), &config(target.addr, "v1", ""));
    let listener = ballast.addr("web");
    let stream = TcpStream::connect(listener).await.unwrap();
    let local = stream.local_addr().unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut ids = std::collections::HashSet::new();
    for _ in 0..3 {
        let request = http::Request::get(format!("http://{listener}/"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = tokio::time::timeout(WAIT, sender.send_request(request))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let (id, source, destination) = split(std::str::from_utf8(&body).unwrap());
        assert_eq!(source, local);
        assert_eq!(destination, listener);
        ids.insert(id);
    }
    assert_eq!(
        ids.len(),
        1,
        "sequential requests reuse the client's connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_start_with_a_header_that_names_no_client() {
    for version in ["v1", "v2"] {
        let target = ProxiedTarget::spawn().await;
        let mut text = config(target.addr, version, "");
        // Requests are refused until the checks (which this target answers only after a
        // header) have made the target healthy.
        text.push_str(
            "fail_open = false\nhealth_check = { path = \"/\", interval = \"1s\", healthy_threshold = 2 }\n",
        );
        let ballast = BallastProcess::start(bin(), &text);
        let listener = ballast.addr("web");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut client = Client::connect(listener, b"").await;
            if let Some((_, source, _)) = client.try_get().await {
                assert_eq!(source, client.local, "{version}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{version}: the target never turned healthy"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Two checks passed on connections of their own, plus the request's.
        assert!(target.connections.load(Ordering::SeqCst) >= 3, "{version}");
    }
}
