//! Binding listener sockets: one `SO_REUSEPORT` socket per listener per worker, so the
//! kernel spreads new connections over the workers without a shared accept queue; and
//! which listeners a reload adds and removes.

use std::net::SocketAddr;

use ballast_config::{Config, ListenerConfig, ListenerName, ListenerProtocol};
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::RuntimeError;

/// Kernel accept-queue length per socket.
const BACKLOG: i32 = 4096;

/// A listener's sockets, one per worker, all bound to `address`.
#[derive(Debug)]
pub(crate) struct BoundListener {
    pub(crate) name: ListenerName,
    pub(crate) protocol: ListenerProtocol,
    pub(crate) address: SocketAddr,
    /// TCP sockets (every protocol but `udp`).
    pub(crate) sockets: Vec<std::net::TcpListener>,
    /// UDP sockets (`udp` and `tcp_udp`), one per worker: the kernel hashes each client's
    /// datagrams to one of them, so a flow stays on one worker.
    pub(crate) udp: Vec<std::net::UdpSocket>,
    /// Whether its TCP sockets defer accept (`TCP_DEFER_ACCEPT`), set as they are served.
    pub(crate) defer_accept: bool,
}

/// Binds one listener once per worker. Port 0 is resolved by the first bind and reused by
/// the others, so all workers share the port the OS picked.
pub(crate) fn bind(
    listener: &ListenerConfig,
    workers: usize,
) -> Result<BoundListener, RuntimeError> {
    // A tcp_udp listener on port 0 gives its UDP side the port its TCP side got, which a UDP
    // socket elsewhere may already hold: then the whole listener takes another port.
    let both = listener.protocol.uses_tcp() && listener.protocol.uses_udp();
    let attempts = if both && listener.bind.port() == 0 {
        16
    } else {
        1
    };
    let mut attempt = 1;
    loop {
        match bind_once(listener, workers) {
            Err(RuntimeError::Bind { reason, .. })
                if attempt < attempts && reason.kind() == std::io::ErrorKind::AddrInUse =>
            {
                attempt += 1;
            }
            result => return result,
        }
    }
}

fn bind_once(listener: &ListenerConfig, workers: usize) -> Result<BoundListener, RuntimeError> {
    let error = |reason| RuntimeError::Bind {
        listener: listener.name.clone(),
        address: listener.bind,
        reason,
    };
    let mut address = listener.bind;
    let mut sockets = Vec::new();
    if listener.protocol.uses_tcp() {
        let first = bind_one(address).map_err(error)?;
        address = first.local_addr().map_err(error)?;
        sockets.push(first);
        for _ in 1..workers {
            sockets.push(bind_one(address).map_err(error)?);
        }
    }
    let mut udp = Vec::new();
    if listener.protocol.uses_udp() {
        // A tcp_udp listener's port 0 is the port its TCP side got.
        let first = bind_udp(address).map_err(error)?;
        address = first.local_addr().map_err(error)?;
        udp.push(first);
        for _ in 1..workers {
            udp.push(bind_udp(address).map_err(error)?);
        }
    }
    Ok(BoundListener {
        name: listener.name.clone(),
        protocol: listener.protocol,
        address,
        sockets,
        udp,
        defer_accept: listener.defer_accept,
    })
}

fn bind_udp(address: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    Ok(reusable(address, Type::DGRAM, Protocol::UDP)?.into())
}

/// A non-blocking socket bound to `address` with `SO_REUSEPORT` (one per worker), IPv6
/// sockets IPv6-only.
fn reusable(address: SocketAddr, kind: Type, protocol: Protocol) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), kind, Some(protocol))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket)
}

fn bind_one(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = reusable(address, Type::STREAM, Protocol::TCP)?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Which listeners a new configuration keeps (same name, same `bind`), which it removes and
/// which it adds. A listener whose address changed is removed and added.
pub(crate) fn diff<'a>(
    running: &[RunningListener],
    new: &'a Config,
) -> (Vec<ListenerName>, Vec<&'a ListenerConfig>) {
    let removed = running
        .iter()
        .filter(|r| {
            !new.listeners
                .iter()
                .any(|l| l.name == r.name && l.bind == r.requested && l.protocol == r.protocol)
        })
        .map(|r| r.name.clone())
        .collect();
    let added = new
        .listeners
        .iter()
        .filter(|l| {
            !running
                .iter()
                .any(|r| r.name == l.name && r.requested == l.bind && r.protocol == l.protocol)
        })
        .collect();
    (removed, added)
}

/// A listener being served: its configured and bound addresses, and the token that stops it.
#[derive(Debug)]
pub(crate) struct RunningListener {
    pub(crate) name: ListenerName,
    /// Its protocol: a change rebinds it (a udp listener has other sockets).
    pub(crate) protocol: ListenerProtocol,
    /// The `bind` key as configured (port 0 stays 0, so a reload does not see a change).
    pub(crate) requested: SocketAddr,
    /// The address actually bound.
    pub(crate) address: SocketAddr,
    pub(crate) stop: tokio_util::sync::CancellationToken,
    /// Duplicates of its sockets, handed to a new process on a binary upgrade.
    pub(crate) sockets: Vec<std::net::TcpListener>,
    /// Duplicates of its UDP sockets (`udp`, `tcp_udp`), handed over the same way.
    pub(crate) udp: Vec<std::net::UdpSocket>,
}

/// Listening sockets a previous Ballast process handed over (binary upgrade), by the
/// listener they served.
#[derive(Debug)]
pub struct InheritedListener {
    /// The listener's name.
    pub name: String,
    /// Its `bind` key as configured in the process that bound it.
    pub requested: SocketAddr,
    /// Its TCP sockets (one per worker of the old process).
    pub sockets: Vec<std::net::TcpListener>,
    /// Its UDP sockets (`udp` and `tcp_udp` listeners, one per worker of the old process).
    pub udp: Vec<std::net::UdpSocket>,
}

/// A listener taken over from `inherited` when one matches by name and `bind`, else bound.
pub(crate) fn bind_or_inherit(
    listener: &ListenerConfig,
    workers: usize,
    inherited: &mut Vec<InheritedListener>,
) -> Result<BoundListener, RuntimeError> {
    let found = inherited
        .iter()
        .position(|i| *i.name == *listener.name.0 && i.requested == listener.bind);
    // Every kind of socket the protocol needs must have come over; else all are bound
    // afresh (beside the old ones: they are SO_REUSEPORT).
    let protocol = listener.protocol;
    let Some(found) = found.filter(|&i| {
        let taken = &inherited[i];
        (!protocol.uses_tcp() || !taken.sockets.is_empty())
            && (!protocol.uses_udp() || !taken.udp.is_empty())
    }) else {
        return bind(listener, workers);
    };
    let mut taken = inherited.swap_remove(found);
    let error = |reason| RuntimeError::Bind {
        listener: listener.name.clone(),
        address: listener.bind,
        reason,
    };
    if !protocol.uses_tcp() {
        taken.sockets.clear();
    }
    if !protocol.uses_udp() {
        taken.udp.clear();
    }
    let address = match (taken.sockets.first(), taken.udp.first()) {
        (Some(tcp), _) => tcp.local_addr(),
        (None, Some(udp)) => udp.local_addr(),
        (None, None) => Err(std::io::Error::other(
            "the previous process handed over no socket",
        )),
    }
    .map_err(error)?;
    for socket in &taken.sockets {
        socket.set_nonblocking(true).map_err(error)?;
    }
    for socket in &taken.udp {
        socket.set_nonblocking(true).map_err(error)?;
    }
    tracing::info!(listener = %listener.name, addr = %address, sockets = taken.sockets.len(), udp_sockets = taken.udp.len(), "listener taken over from the previous process");
    Ok(BoundListener {
        name: listener.name.clone(),
        protocol: listener.protocol,
        address,
        sockets: taken.sockets,
        udp: taken.udp,
        defer_accept: listener.defer_accept,
    })
}

/// Sets (or clears) deferred accept on a listener's TCP sockets: when they start to be served,
/// and again on a reload that keeps the listener (the option of a listening socket can change
/// at any time; connections already accepted are not touched).
pub(crate) fn set_defer_accept(name: &ListenerName, sockets: &[std::net::TcpListener], on: bool) {
    for socket in sockets {
        if let Err(error) = ballast_l4::defer_accept::set(socket, on) {
            tracing::warn!(listener = %name, %error, "cannot set TCP_DEFER_ACCEPT; connections are accepted at once");
        }
    }
}
