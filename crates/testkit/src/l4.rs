//! L4 targets for tests: a TCP echo server that honours half-close and can reset every
//! connection at once (a target dying), a TLS echo server that reports the server name it
//! was asked for, a UDP server that tags its replies, and clients that connect from a
//! chosen loopback address.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

use crate::tls::Issued;

/// A TCP echo target on 127.0.0.1:0. Everything read is written back; when the client ends
/// its stream, the echo finishes and the target ends its own (half-close honoured). The
/// first bytes of each connection are recorded (what a PROXY header looks like).
pub struct TcpEcho {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Connections open now.
    pub open: Arc<AtomicUsize>,
    /// Bytes echoed so far.
    pub bytes: Arc<AtomicU64>,
    /// The first 512 bytes of each connection, in accept order (an entry per connection
    /// from its accept on, filled as bytes arrive).
    pub first_bytes: Arc<Mutex<Vec<Vec<u8>>>>,
    kill: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpEcho {
    pub async fn spawn() -> TcpEcho {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let first_bytes = Arc::new(Mutex::new(Vec::new()));
        let (kill, killed) = watch::channel(false);
        let (c, o, b, f) = (
            Arc::clone(&connections),
            Arc::clone(&open),
            Arc::clone(&bytes),
            Arc::clone(&first_bytes),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                c.fetch_add(1, Ordering::SeqCst);
                o.fetch_add(1, Ordering::SeqCst);
                let (o, b, f, mut killed) = (
                    Arc::clone(&o),
                    Arc::clone(&b),
                    Arc::clone(&f),
                    killed.clone(),
                );
                tokio::spawn(async move {
                    let mut stream = stream;
                    tokio::select! {
                        () = echo(&mut stream, &b, &f) => {}
                        _ = killed.wait_for(|k| *k) => {
                            let _ = stream.set_zero_linger();
                        }
                    }
                    drop(stream);
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        TcpEcho {
            addr,
            connections,
            open,
            bytes,
            first_bytes,
            kill,
            task,
        }
    }

    /// The target dies: it stops listening (new connections are refused) and resets every
    /// open connection.
    pub fn kill(&self) {
        self.task.abort();
        let _ = self.kill.send(true);
    }
}

impl Drop for TcpEcho {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn echo(stream: &mut TcpStream, bytes: &AtomicU64, first: &Mutex<Vec<Vec<u8>>>) {
    let mut buf = vec![0u8; 16 * 1024];
    let slot = {
        let mut first = first.lock().unwrap();
        first.push(Vec::new());
        first.len() - 1
    };
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut first = first.lock().unwrap();
            let kept = &mut first[slot];
            let room = 512usize.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
        bytes.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = stream.shutdown().await;
}

/// A TLS target on 127.0.0.1:0 serving `certificate`: echoes what it decrypts, after a first
/// line naming itself and the server name the client asked for (`NAME sni=HOST\n`).
pub struct TlsEcho {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsEcho {
    pub async fn spawn(name: &'static str, certificate: &Issued) -> TlsEcho {
        let config = certificate.server_config();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let sni = tls.get_ref().1.server_name().unwrap_or("-").to_owned();
                    let hello = format!("{name} sni={sni}\n");
                    if tls.write_all(hello.as_bytes()).await.is_err() {
                        return;
                    }
                    copy_back(&mut tls).await;
                });
            }
        });
        TlsEcho { addr, task }
    }
}

impl Drop for TlsEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn copy_back<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// A UDP target on 127.0.0.1:0 answering each datagram with `TAG:` and the datagram, and
/// counting the distinct client addresses (Ballast's flow sockets) it saw.
pub struct UdpTagged {
    pub addr: SocketAddr,
    /// Distinct source addresses seen.
    pub peers: Arc<Mutex<Vec<SocketAddr>>>,
    /// Datagrams received.
    pub datagrams: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl UdpTagged {
    pub async fn spawn(tag: &'static str) -> UdpTagged {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let peers = Arc::new(Mutex::new(Vec::new()));
        let datagrams = Arc::new(AtomicUsize::new(0));
        let (p, d) = (Arc::clone(&peers), Arc::clone(&datagrams));
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                d.fetch_add(1, Ordering::SeqCst);
                {
                    let mut peers = p.lock().unwrap();
                    if !peers.contains(&from) {
                        peers.push(from);
                    }
                }
                let mut reply = format!("{tag}:").into_bytes();
                reply.extend_from_slice(&buf[..n]);
                let _ = socket.send_to(&reply, from).await;
            }
        });
        UdpTagged {
            addr,
            peers,
            datagrams,
            task,
        }
    }
}

impl Drop for UdpTagged {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP connection to `to` from the loopback address `source` (any of 127.0.0.0/8 works on
/// Linux), so a test can be several clients with different addresses.
pub async fn connect_from(source: std::net::IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match source {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(to).await
}

/// Whether the service at `to` answers `source`: an HTTP/1.1 GET gets a status line back
/// (`Some(status)`), or the connection ends first (`None`: refused at accept).
pub async fn http_status_from(source: std::net::IpAddr, to: SocketAddr) -> Option<u16> {
    let mut stream = connect_from(source, to).await.ok()?;
    let request = format!("GET / HTTP/1.1\r\nhost: {to}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut reply),
    )
    .await;
    let text = String::from_utf8_lossy(&reply);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Whether the echo service at `to` echoes `source`'s bytes (`false`: the connection was
/// closed or reset at accept).
pub async fn echoes_from(source: std::net::IpAddr, to: SocketAddr) -> bool {
    let Ok(mut stream) = connect_from(source, to).await else {
        return false;
    };
    if stream.write_all(b"ping").await.is_err() || stream.shutdown().await.is_err() {
        return false;
    }
    let mut back = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut back),
    )
    .await;
    matches!(read, Ok(Ok(_))) && back == b"ping"
}
