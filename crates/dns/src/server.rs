//! The sockets: one UDP task answering datagrams (rate limited, truncated to the client's
//! size) and one TCP accept loop whose connections carry length-prefixed messages. Both read
//! the zones from the `ArcSwap` the runtime publishes, once per query.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_proto::op::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::answer::{encode, format_error, respond, udp_limit};
use crate::rrl::{RateLimiter, Verdict};
use crate::stats::DnsStats;
use crate::DnsSnapshot;

/// TCP connections open at once; more wait in the kernel's backlog.
const MAX_TCP_CONNECTIONS: usize = 256;
/// A TCP connection with no complete query for this long is closed (RFC 7766 suggests
/// seconds, not minutes).
const TCP_IDLE: Duration = Duration::from_secs(10);

/// What both loops share.
#[derive(Clone)]
pub struct Shared {
    /// The zones, swapped by reloads.
    pub snapshot: Arc<ArcSwap<DnsSnapshot>>,
    /// The counters.
    pub stats: Arc<DnsStats>,
    /// Cancelled when the server stops.
    pub stop: CancellationToken,
}

/// Answers datagrams on `socket` until stopped.
pub async fn serve_udp(socket: UdpSocket, shared: Shared) {
    let mut buffer = vec![0u8; 4096];
    let mut rng = fastrand::Rng::new();
    let mut limiter = RateLimiter::new(shared.snapshot.load().responses_per_second);
    let mut rate = shared.snapshot.load().responses_per_second;
    loop {
        let (len, client) = tokio::select! {
            () = shared.stop.cancelled() => return,
            received = socket.recv_from(&mut buffer) => match received {
                Ok(r) => r,
                // ICMP errors of earlier sends surface here on Linux: not the server's fault.
                Err(_) => continue,
            },
        };
        let snapshot = shared.snapshot.load();
        if snapshot.responses_per_second != rate {
            rate = snapshot.responses_per_second;
            limiter = RateLimiter::new(rate);
        }
        let Some((response, limit)) = answer(&snapshot, &buffer[..len], &shared.stats, &mut rng)
        else {
            continue;
        };
        let bytes = match limiter.check(client.ip(), Instant::now()) {
            Verdict::Send => {
                let Some(bytes) = encode(&response, limit) else {
                    continue;
                };
                if bytes.len() < 3 || bytes[2] & 0x02 != 0 {
                    shared.stats.truncated.fetch_add(1, Ordering::Relaxed);
                }
                bytes
            }
            Verdict::Slip => {
                shared
                    .stats
                    .rate_limited_slipped
                    .fetch_add(1, Ordering::Relaxed);
                let Some(bytes) = encode(&response, 0) else {
                    continue;
                };
                bytes
            }
            Verdict::Drop => {
                shared
                    .stats
                    .rate_limited_dropped
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let _ = socket.send_to(&bytes, client).await;
    }
}

/// The response to the message in `bytes` and the size its UDP form must fit, or `None`
/// (not a query, or too short to answer).
fn answer(
    snapshot: &DnsSnapshot,
    bytes: &[u8],
    stats: &DnsStats,
    rng: &mut fastrand::Rng,
) -> Option<(Message, usize)> {
    let request = match Message::from_vec(bytes) {
        Ok(request) => request,
        Err(_) => {
            let bytes = format_error(bytes)?;
            stats.response(hickory_proto::op::ResponseCode::FormErr);
            let message = Message::from_vec(&bytes).ok()?;
            return Some((message, 512));
        }
    };
    if let Some(q) = request.queries.first() {
        stats.query(q.query_type());
    }
    let mut random = |n: u64| rng.u64(..n.max(1));
    let response = respond(snapshot, &request, Instant::now(), &mut random)?;
    stats.response(response.metadata.response_code);
    Some((response, udp_limit(&request)))
}

/// Accepts TCP connections on `listener` until stopped.
pub async fn serve_tcp(listener: TcpListener, shared: Shared) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, _) = tokio::select! {
            () = shared.stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => {
                    // Out of descriptors or similar: Ballast's own limit; wait and go on.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if open.load(Ordering::Relaxed) >= MAX_TCP_CONNECTIONS {
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (shared, open) = (shared.clone(), Arc::clone(&open));
        tokio::spawn(async move {
            connection(stream, &shared).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn connection(mut stream: TcpStream, shared: &Shared) {
    let mut rng = fastrand::Rng::new();
    let _ = stream.set_nodelay(true);
    loop {
        let mut length = [0u8; 2];
        let read = async {
            stream.read_exact(&mut length).await?;
            let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
            stream.read_exact(&mut message).await?;
            Ok::<_, std::io::Error>(message)
        };
        let message = tokio::select! {
            () = shared.stop.cancelled() => return,
            read = tokio::time::timeout(TCP_IDLE, read) => match read {
                Ok(Ok(message)) => message,
                _ => return,
            },
        };
        shared.stats.tcp_queries.fetch_add(1, Ordering::Relaxed);
        let snapshot = shared.snapshot.load();
        let Some((response, _)) = answer(&snapshot, &message, &shared.stats, &mut rng) else {
            continue;
        };
        let Some(bytes) = encode(&response, usize::from(u16::MAX)) else {
            return;
        };
        let Ok(len) = u16::try_from(bytes.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&bytes);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
