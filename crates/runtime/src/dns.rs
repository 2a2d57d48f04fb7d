//! The DNS server at run time: its sockets on a thread of their own, the health checkers of
//! `[dns.health_checks]` on the control runtime (the target groups' checker, writing a
//! `TargetState` per check), and the zones' snapshot, rebuilt with every published data-plane
//! snapshot so aliases follow the targets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use ballast_balance::{HealthReason, HealthState, TargetState};
use ballast_config::{Config, DnsCheckKind, DnsHealthCheck, HealthCheckKind};
use ballast_dns::server::{serve_tcp, serve_udp, Shared};
use ballast_dns::snapshot::Sources;
use ballast_dns::stats::DnsStats;
use ballast_dns::DnsSnapshot;
use ballast_health::run_checker;
use ballast_http::HttpSnapshot;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::error::RuntimeError;

mod status;

pub use status::{CheckStatus, DnsStatus, MemberStatus, RecordSetStatus, ZoneStatus};

/// The server's shared parts.
#[derive(Debug, Default)]
pub(crate) struct DnsRuntime {
    pub(crate) snapshot: Arc<ArcSwap<DnsSnapshot>>,
    pub(crate) stats: Arc<DnsStats>,
    server: Mutex<Option<Server>>,
}

/// The running server.
#[derive(Debug)]
struct Server {
    /// `bind` as configured.
    requested: SocketAddr,
    /// The address bound (the real port when the configuration said 0).
    address: SocketAddr,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One endpoint check: its settings, the state it writes and its task.
pub(crate) type DnsCheckers = HashMap<Arc<str>, (DnsHealthCheck, Arc<TargetState>, AbortHandle)>;

impl DnsRuntime {
    /// Starts, moves or stops the server to match `config`: a new or changed `bind` binds
    /// anew (and a failure leaves the running server as it is).
    pub(crate) fn sync_server(&self, config: &Config) -> Result<(), RuntimeError> {
        let mut server = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        let wanted = config.dns.as_ref().map(|d| d.bind);
        if server.as_ref().map(|s| s.requested) == wanted {
            return Ok(());
        }
        let started = match wanted {
            Some(bind) => Some(self.start(bind)?),
            None => None,
        };
        if let Some(old) = std::mem::replace(&mut *server, started) {
            old.end();
        }
        Ok(())
    }

    /// The server's status for operators; `None` without `[dns]`.
    pub(crate) fn status(&self, configured: bool) -> Option<DnsStatus> {
        configured.then(|| status::status(&self.snapshot.load(), self.address(), &self.stats))
    }

    /// The address the server is bound to.
    pub(crate) fn address(&self) -> Option<SocketAddr> {
        let server = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        server.as_ref().map(|s| s.address)
    }

    /// Stops the server (shutdown): peers checking this node see it gone at once.
    pub(crate) fn stop(&self) {
        let taken = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(server) = taken {
            server.end();
        }
    }

    fn start(&self, bind: SocketAddr) -> Result<Server, RuntimeError> {
        let io = |reason| RuntimeError::DnsBind {
            address: bind,
            reason,
        };
        let (udp, tcp) = bind_pair(bind).map_err(io)?;
        let address = udp.local_addr().map_err(io)?;
        let stop = CancellationToken::new();
        let shared = Shared {
            snapshot: Arc::clone(&self.snapshot),
            stats: Arc::clone(&self.stats),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("ballast-dns".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(%error, "the DNS server's runtime could not start");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let (Ok(udp), Ok(tcp)) = (
                        tokio::net::UdpSocket::from_std(udp),
                        tokio::net::TcpListener::from_std(tcp),
                    ) else {
                        tracing::error!("the DNS server's sockets could not be registered");
                        return;
                    };
                    tokio::join!(serve_udp(udp, shared.clone()), serve_tcp(tcp, shared));
                });
            })
            .map_err(RuntimeError::Worker)?;
        tracing::info!(addr = %address, transports = "udp,tcp", "DNS server started");
        Ok(Server {
            requested: bind,
            address,
            stop,
            thread: Some(thread),
        })
    }
}

impl Server {
    fn end(mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the DNS server's thread panicked");
            }
        }
        tracing::info!(addr = %self.address, "DNS server stopped");
    }
}

/// A UDP socket and a TCP listener on `bind` (the TCP one on the UDP one's port when `bind`
/// says port 0). `SO_REUSEPORT`, so an upgraded process binds them while the old one still
/// answers.
fn bind_pair(bind: SocketAddr) -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut last = None;
    for _ in 0..16 {
        let domain = Domain::for_address(bind);
        let udp = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        udp.set_reuse_port(true)?;
        udp.set_nonblocking(true)?;
        udp.bind(&bind.into())?;
        let port = udp
            .local_addr()?
            .as_socket()
            .map_or(bind.port(), |a| a.port());
        let tcp_addr = SocketAddr::new(bind.ip(), port);
        let tcp = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        tcp.set_reuse_address(true)?;
        tcp.set_reuse_port(true)?;
        tcp.set_nonblocking(true)?;
        match tcp.bind(&tcp_addr.into()) {
            Ok(()) => {
                tcp.listen(1024)?;
                return Ok((udp.into(), tcp.into()));
            }
            // Port 0 gave a UDP port whose TCP twin is taken: try another.
            Err(e) if bind.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port free on both UDP and TCP")))
}

/// Rebuilds the zones' snapshot for `config` and the data plane's `next` snapshot, and starts
/// and stops the DNS health checkers to match.
pub(crate) fn publish(
    dns: &DnsRuntime,
    checkers: &mut DnsCheckers,
    (config, cluster): (&Config, &[std::net::IpAddr]),
    next: &HttpSnapshot,
    runtime: &tokio::runtime::Handle,
) {
    let Some(dns_config) = &config.dns else {
        for (_, (_, _, task)) in checkers.drain() {
            task.abort();
        }
        dns.snapshot.store(Arc::new(DnsSnapshot::default()));
        return;
    };
    reconcile(checkers, &dns_config.health_checks, runtime);
    let states: HashMap<Arc<str>, Arc<TargetState>> = checkers
        .iter()
        .map(|(name, (_, state, _))| (Arc::clone(name), Arc::clone(state)))
        .collect();
    let group = |name: &ballast_config::GroupName| {
        next.target_groups
            .iter()
            .find(|g| g.name == *name)
            .map(|g| {
                g.targets
                    .iter()
                    .map(|t| (t.address, Arc::clone(&t.state)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let listener = |name: &ballast_config::ListenerName| {
        config
            .listeners
            .iter()
            .find(|l| l.name == *name)
            .map(|l| l.bind)
    };
    let sources = Sources {
        check_states: &states,
        group: &group,
        listener: &listener,
        cluster,
    };
    let next = DnsSnapshot::build(dns_config, &sources);
    next.carry_counts(&dns.snapshot.load());
    dns.snapshot.store(Arc::new(next));
}

fn reconcile(
    checkers: &mut DnsCheckers,
    wanted: &[DnsHealthCheck],
    runtime: &tokio::runtime::Handle,
) {
    checkers.retain(|name, (check, _, task)| {
        let keep = wanted.iter().any(|w| w.name == *name && w == check);
        if !keep {
            task.abort();
        }
        keep
    });
    for check in wanted {
        let DnsCheckKind::Endpoint {
            address,
            check: settings,
        } = &check.kind
        else {
            continue;
        };
        if checkers.contains_key(&check.name) {
            continue;
        }
        let state = Arc::new(TargetState::new(HealthState::Initial, HealthReason::None));
        let tls = matches!(settings.kind, HealthCheckKind::Http { tls: true, .. })
            .then(|| ballast_tls::build_client_config(false, None).ok())
            .flatten();
        let task = runtime.spawn(run_checker(
            Arc::from(format!("dns:{}", check.name)),
            *address,
            settings.clone(),
            Arc::clone(&state),
            tls,
            None,
        ));
        checkers.insert(
            Arc::clone(&check.name),
            (check.clone(), state, task.abort_handle()),
        );
    }
}
