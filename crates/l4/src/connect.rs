//! Choosing a target for a new L4 connection and opening a connection to it: the group's
//! balancer picks (the flow hash by default), the connect is bounded by the group's
//! timeout, a refused or timed-out connect counts against the target (outlier detection)
//! and moves the connection to another target once, and a PROXY header goes first.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ballast_balance::{stable_hash, InFlight, OpenConnection, PickInput};
use ballast_config::Algorithm;
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;

use crate::limits::{is_resource_exhaustion, FdBudget, FdSlot};
use crate::open_tcp;
use crate::proxy_protocol::{self, ProxyAddresses, Tlvs};
use crate::signal::Signal;
use crate::snapshot::{L4Group, L4Target};
use crate::stream::TargetStream;

/// Why no target connection was made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectFailure {
    /// The group has no target that may take traffic.
    #[error("no healthy target")]
    NoTarget,
    /// Ballast ran out of its own file descriptors or memory (not the target's fault).
    #[error("out of file descriptors")]
    Exhausted,
    /// The target refused, reset or did not answer in time (each tried target).
    #[error("target {0} failed: {1}")]
    Target(SocketAddr, std::io::Error),
}

/// An open connection to a target, with what it holds while it lives.
#[derive(Debug)]
pub struct TargetConn {
    /// The stream (plain or TLS).
    pub stream: TargetStream,
    /// Index of the target in its group.
    pub index: usize,
    /// Raised when the target's deregistration delay ends.
    pub cut: Arc<Signal>,
    /// Time taken to connect (the last attempt's, TLS included).
    pub connect_time: std::time::Duration,
    /// How many of the client's early bytes were sent with the connect (plain groups).
    pub early_sent: usize,
    _in_flight: InFlight,
    _open: OpenConnection,
    _fd: FdSlot,
}

/// Who the connection is for, as the balancer and the PROXY header see it.
#[derive(Debug, Clone, Copy)]
pub struct Flow<'a> {
    /// The client (as told by a trusted PROXY header, or the peer).
    pub client: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
    /// `true` for UDP (the flow hash's protocol byte).
    pub udp: bool,
    /// The TLS server name, when known (sent as a PROXY v2 TLV).
    pub server_name: Option<&'a str>,
    /// The ALPN protocol agreed by a `tls` listener (sent as a PROXY v2 TLV).
    pub alpn: Option<&'a [u8]>,
}

/// The hash key of a flow for `algorithm`: its 5-tuple for `flow_hash`, the client's IP
/// address for `ip_hash` (as text, the same key HTTP groups hash), none otherwise.
pub fn flow_key(algorithm: Algorithm, flow: &Flow<'_>) -> Option<u64> {
    match algorithm {
        Algorithm::FlowHash => {
            // On the stack: a protocol byte and two addresses with their ports.
            let mut bytes = [0u8; 1 + 2 * 18];
            bytes[0] = u8::from(flow.udp);
            let mut at = 1;
            at = put_addr(&mut bytes, at, flow.client);
            at = put_addr(&mut bytes, at, flow.local);
            Some(stable_hash(&bytes[..at]))
        }
        Algorithm::IpHash => Some(stable_hash(flow.client.ip().to_string().as_bytes())),
        _ => None,
    }
}

/// Writes `addr`'s octets and port at `bytes[at..]`; returns where the next field goes.
fn put_addr(bytes: &mut [u8; 37], at: usize, addr: SocketAddr) -> usize {
    let (v4, v6);
    let ip: &[u8] = match addr.ip() {
        std::net::IpAddr::V4(ip) => {
            v4 = ip.octets();
            &v4
        }
        std::net::IpAddr::V6(ip) => {
            v6 = ip.octets();
            &v6
        }
    };
    bytes[at..at + ip.len()].copy_from_slice(ip);
    let at = at + ip.len();
    bytes[at..at + 2].copy_from_slice(&addr.port().to_be_bytes());
    at + 2
}

/// The index of the target a new flow goes to, or `None` when the group has none.
pub fn pick(group: &L4Group, flow: &Flow<'_>, exclude: Option<usize>) -> Option<usize> {
    let input = PickInput {
        now: Instant::now(),
        fail_open: group.fail_open,
        exclude,
        random: fastrand::u64(..),
        key: flow_key(group.balancer.algorithm(), flow),
    };
    group.balancer.pick(&group.targets, |t| &t.state, &input)
}

/// Opens a TCP (or TLS, for `tls` groups) connection to a target of `group` and sends the
/// group's PROXY header, then, to a plain group, what it can of `early` (the client's bytes
/// read already) in the same send. A target that fails is recorded as failing and one other
/// target is tried.
pub async fn connect(
    group: &L4Group,
    flow: &Flow<'_>,
    fds: &Arc<FdBudget>,
    early: &[u8],
) -> Result<TargetConn, ConnectFailure> {
    let first = pick(group, flow, None).ok_or(ConnectFailure::NoTarget)?;
    match connect_to(group, first, flow, fds, early).await {
        Ok(conn) => Ok(conn),
        Err(ConnectFailure::Target(address, error)) => {
            match pick(group, flow, Some(first)).filter(|&i| i != first) {
                Some(second) => connect_to(group, second, flow, fds, early).await,
                None => Err(ConnectFailure::Target(address, error)),
            }
        }
        Err(other) => Err(other),
    }
}

async fn connect_to(
    group: &L4Group,
    index: usize,
    flow: &Flow<'_>,
    fds: &Arc<FdBudget>,
    early: &[u8],
) -> Result<TargetConn, ConnectFailure> {
    let target: &L4Target = &group.targets[index];
    let fd = fds.acquire().ok_or(ConnectFailure::Exhausted)?;
    let started = Instant::now();
    let in_flight = target.state.begin_request();
    if let Some(m) = &target.metrics {
        m.requests.inc();
    }
    // The connect timeout counts from the same clock read (the system clock's: no test
    // pauses tokio's clock on this path).
    let deadline = tokio::time::Instant::from_std(started) + group.connect_timeout;
    let (stream, early_sent) = match open(group, target.address, flow, early, deadline).await {
        Ok(opened) => opened,
        Err(Opening::Exhausted) => return Err(ConnectFailure::Exhausted),
        Err(Opening::Failed(error)) => {
            target.state.record_outcome(false);
            if let Some(m) = &target.metrics {
                m.errors.inc();
            }
            return Err(ConnectFailure::Target(target.address, error));
        }
    };
    target.state.record_outcome(true);
    Ok(TargetConn {
        stream,
        index,
        cut: target.cuts.track(),
        connect_time: started.elapsed(),
        early_sent,
        _in_flight: in_flight,
        _open: target.state.open_connection(),
        _fd: fd,
    })
}

enum Opening {
    Exhausted,
    Failed(std::io::Error),
}

/// The stream to `address`, PROXY header sent, and how many bytes of `early` went with it
/// (only to a plain group: a TLS one hands them over after its handshake).
async fn open(
    group: &L4Group,
    address: SocketAddr,
    flow: &Flow<'_>,
    early: &[u8],
    deadline: tokio::time::Instant,
) -> Result<(TargetStream, usize), Opening> {
    let early = if group.tls.is_none() { early } else { &[] };
    let mut first = Vec::new();
    if let Some(version) = group.proxy_protocol {
        first.reserve(64 + early.len());
        let addresses = ProxyAddresses {
            source: flow.client,
            destination: flow.local,
        };
        let tlvs = Tlvs {
            authority: flow.server_name,
            alpn: flow.alpn,
        };
        proxy_protocol::encode(version.into(), &addresses, &tlvs, &mut first);
    }
    let header = first.len();
    // Without a header the client's bytes go as they are; with one, in the same send.
    let first: &[u8] = if header == 0 {
        early
    } else {
        first.extend_from_slice(early);
        &first
    };
    let opened = by(deadline, open_tcp::open(address, first)).await?;
    let mut stream = opened.stream;
    // A header only partly sent is finished before anything else.
    if opened.sent < header {
        by(deadline, stream.write_all(&first[opened.sent..header])).await?;
    }
    let early_sent = opened.sent.saturating_sub(header);
    let Some(tls) = &group.tls else {
        return Ok((TargetStream::Plain(stream), early_sent));
    };
    // Boxed: the handshake's state (1.2 KiB with its timeout) would otherwise be part of
    // every connection's task, plain ones included, for the connection's whole life.
    Box::pin(handshake(tls, address, stream, deadline)).await
}

/// The TLS handshake with a `tls` group's target, bounded by `deadline`.
async fn handshake(
    tls: &crate::snapshot::L4TargetTls,
    address: SocketAddr,
    stream: tokio::net::TcpStream,
    deadline: tokio::time::Instant,
) -> Result<(TargetStream, usize), Opening> {
    let timed_out = || Opening::Failed(std::io::ErrorKind::TimedOut.into());
    let name = match &tls.server_name {
        Some(name) => ServerName::try_from(name.clone()).map_err(|e| {
            Opening::Failed(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
        })?,
        None => ServerName::IpAddress(address.ip().into()),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&tls.client));
    match tokio::time::timeout_at(deadline, connector.connect(name, stream)).await {
        Ok(Ok(stream)) => Ok((TargetStream::Tls(Box::new(stream)), 0)),
        Ok(Err(error)) => Err(Opening::Failed(error)),
        Err(_) => Err(timed_out()),
    }
}

/// `io` bounded by `deadline`: Ballast's own exhaustion apart from the target's failures.
async fn by<T>(
    deadline: tokio::time::Instant,
    io: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, Opening> {
    match tokio::time::timeout_at(deadline, io).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) if is_resource_exhaustion(&e) => Err(Opening::Exhausted),
        Ok(Err(e)) => Err(Opening::Failed(e)),
        Err(_) => Err(Opening::Failed(std::io::ErrorKind::TimedOut.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(client: &str, local: &str, udp: bool) -> Flow<'static> {
        Flow {
            client: client.parse().unwrap(),
            local: local.parse().unwrap(),
            udp,
            server_name: None,
            alpn: None,
        }
    }

    #[test]
    fn the_flow_hash_keys_the_whole_five_tuple_and_ip_hash_the_address_only() {
        let a = flow("10.0.0.1:40000", "10.0.0.9:443", false);
        let same = flow("10.0.0.1:40000", "10.0.0.9:443", false);
        let port = flow("10.0.0.1:40001", "10.0.0.9:443", false);
        let udp = flow("10.0.0.1:40000", "10.0.0.9:443", true);
        let listener = flow("10.0.0.1:40000", "10.0.0.9:8443", false);
        let key = |f: &Flow<'_>| flow_key(Algorithm::FlowHash, f);
        assert_eq!(key(&a), key(&same));
        for other in [&port, &udp, &listener] {
            assert_ne!(key(&a), key(other));
        }
        let ip = |f: &Flow<'_>| flow_key(Algorithm::IpHash, f);
        assert_eq!(ip(&a), ip(&port));
        assert_eq!(
            ip(&a),
            Some(stable_hash(b"10.0.0.1")),
            "the key HTTP groups hash for the same client"
        );
        assert_eq!(flow_key(Algorithm::RoundRobin, &a), None);
    }

    #[test]
    fn the_flow_hash_key_is_the_protocol_byte_then_each_address_and_port() {
        // Pinned: the bytes hashed decide where every flow goes, on every node and release.
        let v4 = flow("192.0.2.7:40000", "10.0.0.9:443", false);
        let mut bytes = vec![0u8];
        bytes.extend_from_slice(&[192, 0, 2, 7, 0x9c, 0x40, 10, 0, 0, 9, 0x01, 0xbb]);
        assert_eq!(
            flow_key(Algorithm::FlowHash, &v4),
            Some(stable_hash(&bytes))
        );
        let v6 = flow("[2001:db8::1]:53", "10.0.0.9:53", true);
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        bytes.extend_from_slice(&[0; 11]);
        bytes.extend_from_slice(&[1, 0, 53, 10, 0, 0, 9, 0, 53]);
        assert_eq!(
            flow_key(Algorithm::FlowHash, &v6),
            Some(stable_hash(&bytes))
        );
    }

    #[test]
    fn flows_spread_over_targets_and_a_removed_target_moves_only_its_own() {
        use ballast_balance::{BalanceOptions, Balancer, TargetSpec};
        let specs = |n: u64| -> Vec<TargetSpec> {
            (0..n)
                .map(|i| TargetSpec {
                    weight: 1,
                    local: true,
                    id: stable_hash(&i.to_le_bytes()),
                })
                .collect()
        };
        let four = Balancer::build(
            Algorithm::FlowHash,
            &specs(4),
            BalanceOptions::default(),
            None,
        );
        let three = Balancer::build(
            Algorithm::FlowHash,
            &specs(3),
            BalanceOptions::default(),
            None,
        );
        let states: Vec<Arc<ballast_balance::TargetState>> = (0..4)
            .map(|_| {
                Arc::new(ballast_balance::TargetState::new(
                    ballast_balance::HealthState::Healthy,
                    ballast_balance::HealthReason::None,
                ))
            })
            .collect();
        let pick = |b: &Balancer, n: usize, port: u16| {
            let f = flow(&format!("192.0.2.7:{port}"), "10.0.0.9:443", false);
            let input = PickInput {
                now: Instant::now(),
                fail_open: false,
                exclude: None,
                random: 0,
                key: flow_key(Algorithm::FlowHash, &f),
            };
            b.pick(&states[..n], |s| s, &input).unwrap()
        };
        let mut counts = [0usize; 4];
        let mut moved = 0;
        for port in 1000..11000 {
            let before = pick(&four, 4, port);
            counts[before] += 1;
            let after = pick(&three, 3, port);
            if before != 3 && after != before {
                moved += 1;
            }
        }
        assert!(counts.iter().all(|&c| c > 2000), "{counts:?}");
        // Flows of the remaining targets stay where they were (Maglev moves a few).
        assert!(moved < 1000, "{moved} of ~7500 flows moved");
    }
}
