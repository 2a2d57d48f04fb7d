//! `udp` listeners: datagrams forwarded per flow. A flow is a client address and port; its
//! first datagram picks a target (the flow hash by default) and opens a socket connected to
//! it, and every later datagram of the flow goes the same way until no datagram moved either
//! way for the idle timeout. Replies come back to the client from the listener's socket.
//!
//! Each worker keeps its own bounded table: the kernel hashes a client's datagrams to one of
//! the listener's `SO_REUSEPORT` sockets, so a flow always meets the same worker.

mod reply;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballast_telemetry::l4::{Ending, Refusal};
use ballast_telemetry::metrics::{Limit, ListenerMetrics};
use tokio::net::UdpSocket;

use crate::connect::{pick, Flow};
use crate::flow_table::FlowTable;
use crate::limits::is_resource_exhaustion;
use crate::log::ConnLog;
use crate::snapshot::{L4Group, L4Route};
use crate::task::L4Task;

use reply::{FlowShared, ReplyTask};

/// Largest datagram relayed (the largest a UDP/IPv4 datagram can be).
const MAX_DATAGRAM: usize = 65_535;

/// Warnings of flows Ballast could not open (its own limits, or no route to the target):
/// a flood of new flows must not become a flood of lines.
static FLOW_LOG: ballast_telemetry::LogLimiter = ballast_telemetry::LogLimiter::new(1);

/// One flow as the listener's table holds it.
struct FlowEntry {
    /// The socket connected to the flow's target.
    socket: Arc<UdpSocket>,
    /// Shared with the flow's task.
    shared: Arc<FlowShared>,
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
                    // The table only sees the client's datagrams: a target's replies keep
                    // the flow too.
                    let active = flow.shared.last_active.load(Ordering::Relaxed);
                    if active >= idle_since && !flow.shared.ended.load(Ordering::Relaxed) {
                        kept.push((client, flow, active));
                    } else {
                        flow.shared.end(Ending::Idle);
                    }
                }
                for (client, flow, active) in kept {
                    table.insert(client, flow, active);
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
                        let sent = flow.socket.send(datagram).await.unwrap_or(0);
                        flow.shared.client_sent(sent, now);
                        count_in(n);
                        continue;
                    }
                    table.remove(&client);
                }
                let Some(local) = local else { continue };
                let Some(entry) = open_flow(&task, &socket, (client, local), (epoch, now)) else { continue };
                let sent = entry.socket.send(datagram).await.unwrap_or(0);
                entry.shared.client_sent(sent, now);
                count_in(n);
                if let Some((_, evicted)) = table.insert(client, entry, now) {
                    evicted.shared.end(Ending::Evicted);
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
            flow.shared.end(Ending::Closed);
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
        L4Route::Reject => {
            if let Some(m) = &listener.metrics {
                m.l4.refuse(Refusal::Rejected);
            }
            return None;
        }
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
    let refuse = |reason: Refusal| {
        if let Some(m) = &metrics {
            m.l4.refuse(reason);
        }
    };
    let Some(index) = pick(&group, &flow, None) else {
        refuse(Refusal::NoTarget);
        return None;
    };
    let target = &group.targets[index];
    let Some(fd) = task.fds.acquire() else {
        refuse(Refusal::Exhausted);
        if let Some(suppressed) = FLOW_LOG.allow() {
            tracing::warn!(listener = %task.name, limit = task.fds.limit(), suppressed, "UDP flow not opened: Ballast's file descriptor budget is spent (raise ulimit -n)");
        }
        return None;
    };
    let socket = match connected_socket(target.address) {
        Ok(socket) => Arc::new(socket),
        Err(error) => {
            let reason = flow_socket_refusal(&error);
            refuse(reason);
            if let Some(suppressed) = FLOW_LOG.allow() {
                let why = match reason {
                    Refusal::Exhausted => "Ballast is out of sockets or local ports",
                    _ => "the target cannot be reached",
                };
                tracing::warn!(listener = %task.name, target_address = %target.address, %error, suppressed, "UDP flow not opened: {why}");
            }
            return None;
        }
    };
    // The flow's access-log record, made only once it opens: a refused client's every
    // datagram comes this way.
    let mut log = ConnLog::new(
        listener,
        client,
        snapshot.access_log.clone(),
        Instant::now(),
    );
    drop(snapshot);
    log.group = Some(group.name.clone());
    log.set_target(target);
    log.connect_time = Some(Duration::ZERO);
    let shared = Arc::new(FlowShared::default());
    shared.last_active.store(now, Ordering::Relaxed);
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
        log,
        idle,
        epoch,
    };
    task.connections.spawn(reply.run());
    Some(FlowEntry { socket, shared })
}

/// Why a flow's socket could not be opened: Ballast's own limits (descriptors, memory, or
/// the local ports a socket bound to port 0 takes one of: `EADDRINUSE` when none is left),
/// never the target's fault; anything else (no route) is the target's.
fn flow_socket_refusal(error: &std::io::Error) -> Refusal {
    const EADDRINUSE: i32 = 98;
    if is_resource_exhaustion(error) || error.raw_os_error() == Some(EADDRINUSE) {
        Refusal::Exhausted
    } else {
        Refusal::TargetFailed
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_local_ports_or_descriptors_is_ballasts_fault() {
        for errno in [98, 24, 23, 12, 105, 99] {
            let error = std::io::Error::from_raw_os_error(errno);
            assert_eq!(flow_socket_refusal(&error), Refusal::Exhausted, "{error}");
        }
        // No route to the target (ENETUNREACH) is the target's.
        let unreachable = std::io::Error::from_raw_os_error(101);
        assert_eq!(flow_socket_refusal(&unreachable), Refusal::TargetFailed);
    }
}
