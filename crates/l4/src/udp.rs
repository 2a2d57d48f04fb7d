//! `udp` listeners: datagrams forwarded per flow. A flow is a client address and port; its
//! first datagram picks a target (the flow hash by default) and opens a socket connected to
//! it, and every later datagram of the flow goes the same way until no datagram moved either
//! way for the idle timeout. Replies come back to the client from the listener's socket.
//!
//! Each worker keeps its own bounded table: the kernel hashes a client's datagrams to one of
//! the listener's `SO_REUSEPORT` sockets, so a flow always meets the same worker.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballast_telemetry::metrics::{Limit, ListenerMetrics};
use tokio::net::UdpSocket;

use crate::connect::{pick, Flow};
use crate::flow_table::FlowTable;
use crate::limits::FdSlot;
use crate::signal::Signal;
use crate::snapshot::{L4Group, L4Route};
use crate::task::L4Task;

/// How long a flow of a stopping process still relays its target's replies.
const CLOSING_GRACE: Duration = Duration::from_secs(1);

/// Largest datagram relayed (the largest a UDP/IPv4 datagram can be).
const MAX_DATAGRAM: usize = 65_535;

/// One flow as the listener's table holds it.
struct FlowEntry {
    /// The socket connected to the flow's target.
    socket: Arc<UdpSocket>,
    /// Shared with the flow's task.
    shared: Arc<FlowShared>,
}

/// What the listener and a flow's reply task share.
#[derive(Default)]
struct FlowShared {
    /// Raised to end the flow (idle, evicted).
    stop: Signal,
    /// Raised when the process stops (SIGTERM, or a binary upgrade took the listener's
    /// sockets): no datagram of the client comes through this flow any more, but replies on
    /// their way still go back for [`CLOSING_GRACE`]. (A reload that stops the listener ends
    /// its flows at once: a socket bound anew beside it may share its port, and the kernel
    /// would go on handing this one datagrams nobody reads while a flow holds it open.)
    closing: Signal,
    /// Set by the reply task when it ended on its own (target gone, deregistered).
    ended: AtomicBool,
    /// Tick of the last reply from the target (replies keep a flow alive too).
    last_reply: AtomicU64,
    /// Bytes from the target to the client.
    from_target: AtomicU64,
}

/// Receives datagrams on `socket` until the listener stops.
pub async fn serve_udp(socket: UdpSocket, task: L4Task) {
    let socket = Arc::new(socket);
    let local = socket.local_addr().ok();
    let epoch = Instant::now();
    let tick = move || epoch.elapsed().as_millis() as u64;
    let (max_flows, idle) = {
        let snapshot = task.snapshot.load();
        snapshot
            .listener(&task.name)
            .map_or((1024, Duration::from_secs(120)), |l| {
                (l.config.max_udp_flows, l.config.udp_idle_timeout)
            })
    };
    // A listener's counters stay the same handle across reloads: looked up once.
    let metrics = metrics(&task);
    let count_in = |n: usize| {
        if let Some(m) = &metrics {
            m.received_bytes.add(n as u64);
        }
    };
    let stop = task.stop_flag();
    let mut table: FlowTable<FlowEntry> = FlowTable::new(max_flows);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let sweep_every = (idle / 4).max(Duration::from_millis(10));
    let mut sweep = tokio::time::interval(sweep_every);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = std::future::poll_fn(|cx| stop.poll_raised(cx)) => break,
            _ = sweep.tick() => {
                let now = tick();
                let idle_since = now.saturating_sub(idle.as_millis() as u64);
                let mut kept = Vec::new();
                while let Some((client, flow)) = table.pop_idle(idle_since) {
                    let replied = flow.shared.last_reply.load(Ordering::Relaxed);
                    if replied >= idle_since && !flow.shared.ended.load(Ordering::Relaxed) {
                        kept.push((client, flow, replied));
                    } else {
                        flow.shared.stop.raise();
                    }
                }
                for (client, flow, replied) in kept {
                    table.insert(client, flow, replied);
                }
            }
            received = socket.recv_from(&mut buf) => {
                let Ok((n, client)) = received else { continue };
                let now = tick();
                let datagram = &buf[..n];
                if let Some(flow) = table.get(&client, now) {
                    if !flow.shared.ended.load(Ordering::Relaxed) {
                        // A send waits only while the socket buffer is full (rare for
                        // UDP); a failed send drops the datagram, as the network may.
                        let _ = flow.socket.send(datagram).await;
                        count_in(n);
                        continue;
                    }
                    table.remove(&client);
                }
                let Some(local) = local else { continue };
                let Some(entry) = open_flow(&task, &socket, (client, local), (epoch, now)) else { continue };
                let _ = entry.socket.send(datagram).await;
                count_in(n);
                if let Some((_, evicted)) = table.insert(client, entry, now) {
                    evicted.shared.stop.raise();
                    if let Some(m) = &metrics {
                        m.limit_hit(Limit::MaxUdpFlows);
                    }
                }
            }
        }
    }
    let process_stops = task.process.is_cancelled();
    while let Some((_, flow)) = table.pop_idle(u64::MAX) {
        if process_stops {
            flow.shared.closing.raise();
        } else {
            flow.shared.stop.raise();
        }
    }
}

fn metrics(task: &L4Task) -> Option<Arc<ListenerMetrics>> {
    task.snapshot
        .load()
        .listener(&task.name)
        .and_then(|l| l.metrics.clone())
}

/// A new flow for `client`: its target picked, a socket connected to it, its reply task
/// started. `None` when there is no target (the datagram is dropped, as NLB does).
fn open_flow(
    task: &L4Task,
    listener_socket: &Arc<UdpSocket>,
    (client, local): (SocketAddr, SocketAddr),
    (epoch, now): (Instant, u64),
) -> Option<FlowEntry> {
    let snapshot = task.snapshot.load();
    let listener = snapshot.listener(&task.name)?;
    if !listener.edge.admits(client.ip()) {
        // Counted, not logged: a line per dropped datagram would let a flood fill the disk.
        if let Some(m) = &listener.metrics {
            m.limit_hit(Limit::AccessDenied);
        }
        return None;
    }
    let group: Arc<L4Group> = match &listener.default_route {
        L4Route::Forward(group) => Arc::clone(group),
        L4Route::Reject => return None,
    };
    let flow = Flow {
        client,
        local,
        udp: true,
        server_name: None,
        alpn: None,
    };
    let metrics = listener.metrics.clone();
    let idle = listener.config.udp_idle_timeout;
    drop(snapshot);
    let Some(index) = pick(&group, &flow, None) else {
        if let Some(m) = &metrics {
            m.l4.refuse(ballast_telemetry::l4::Refusal::NoTarget);
        }
        return None;
    };
    let target = &group.targets[index];
    let fd = task.fds.acquire()?;
    let socket = match connected_socket(target.address) {
        Ok(socket) => Arc::new(socket),
        Err(error) => {
            tracing::debug!(target_address = %target.address, %error, "cannot open a UDP flow socket");
            return None;
        }
    };
    let shared = Arc::new(FlowShared::default());
    shared.last_reply.store(now, Ordering::Relaxed);
    if let Some(m) = &metrics {
        m.connections.inc();
        m.connections_active.inc();
    }
    if let Some(m) = &target.metrics {
        m.requests.inc();
    }
    let reply = ReplyTask {
        from: Arc::clone(&socket),
        to: Arc::clone(listener_socket),
        client,
        shared: Arc::clone(&shared),
        cut: target.cuts.track(),
        _open: target.state.open_connection(),
        _in_flight: target.state.begin_request(),
        _fd: fd,
        metrics,
        idle,
        epoch,
    };
    task.connections.spawn(reply.run());
    Some(FlowEntry { socket, shared })
}

fn connected_socket(target: SocketAddr) -> std::io::Result<UdpSocket> {
    let any: IpAddr = match target {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = std::net::UdpSocket::bind(SocketAddr::new(any, 0))?;
    socket.connect(target)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

thread_local! {
    /// The worker's buffer for replies: read and sent on at once, so that an idle flow
    /// (most of the 100,000 a table may hold) holds no buffer of its own.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; MAX_DATAGRAM]);
}

/// What reading one reply gave.
enum Reply {
    /// Sent on to the client, this many bytes.
    Sent(usize),
    /// Read, but the listener's socket was not ready to send: a copy to send when it is.
    Later(Vec<u8>),
    /// Nothing to read after all.
    Nothing,
    /// The target's socket failed.
    Failed,
}

/// A flow's task: relays the target's replies to the client until the flow ends.
struct ReplyTask {
    from: Arc<UdpSocket>,
    to: Arc<UdpSocket>,
    client: SocketAddr,
    shared: Arc<FlowShared>,
    cut: Arc<Signal>,
    _open: ballast_balance::OpenConnection,
    _in_flight: ballast_balance::InFlight,
    _fd: FdSlot,
    metrics: Option<Arc<ListenerMetrics>>,
    /// A flow whose listener lost track of it (a reload shrank the table) still ends.
    idle: Duration,
    /// The listener's clock origin (ticks are milliseconds since).
    epoch: Instant,
}

impl ReplyTask {
    async fn run(self) {
        // Once the process stops, the flow ends at a fixed time (replies do not extend it).
        let mut closing_at: Option<tokio::time::Instant> = None;
        loop {
            let stop = std::future::poll_fn(|cx| self.shared.stop.poll_raised(cx));
            let cut = std::future::poll_fn(|cx| self.cut.poll_raised(cx));
            let quiet = match closing_at {
                Some(at) => tokio::time::sleep_until(at),
                None => tokio::time::sleep(self.idle * 2),
            };
            tokio::select! {
                () = stop => break,
                () = cut => break,
                () = quiet => break,
                () = std::future::poll_fn(|cx| self.shared.closing.poll_raised(cx)), if closing_at.is_none() => {
                    closing_at = Some(tokio::time::Instant::now() + CLOSING_GRACE);
                }
                readable = self.from.readable() => {
                    if readable.is_err() {
                        break;
                    }
                    let n = match self.relay_reply() {
                        Reply::Sent(n) => n,
                        Reply::Later(datagram) => {
                            let _ = self.to.send_to(&datagram, self.client).await;
                            datagram.len()
                        }
                        Reply::Nothing => continue,
                        // A target that is gone (ICMP port unreachable) ends the flow; the
                        // client's next datagram opens a new one.
                        Reply::Failed => break,
                    };
                    self.shared.from_target.fetch_add(n as u64, Ordering::Relaxed);
                    let now = self.epoch.elapsed().as_millis() as u64;
                    self.shared.last_reply.fetch_max(now, Ordering::Relaxed);
                    if let Some(m) = &self.metrics {
                        m.sent_bytes.add(n as u64);
                    }
                }
            }
        }
        self.shared.ended.store(true, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.connections_active.dec();
        }
    }

    /// Reads one reply into the worker's scratch buffer and sends it on at once.
    fn relay_reply(&self) -> Reply {
        SCRATCH.with(|scratch| {
            let mut buf = scratch.borrow_mut();
            let n = match self.from.try_recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Reply::Nothing,
                Err(_) => return Reply::Failed,
            };
            match self.to.try_send_to(&buf[..n], self.client) {
                Ok(_) => Reply::Sent(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    Reply::Later(buf[..n].to_vec())
                }
                // The client's address cannot be sent to: the datagram is dropped.
                Err(_) => Reply::Sent(n),
            }
        })
    }
}
