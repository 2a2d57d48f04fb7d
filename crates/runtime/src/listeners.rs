//! Binding listener sockets: one `SO_REUSEPORT` socket per listener per worker, so the
//! kernel spreads new connections over the workers without a shared accept queue; and
//! which listeners a reload adds and removes.

use std::net::SocketAddr;

use ballast_config::{Config, ListenerConfig, ListenerName};
use socket2::{Domain, Protocol, Socket, Type};

use crate::RuntimeError;

/// Kernel accept-queue length per socket.
const BACKLOG: i32 = 4096;

/// A listener's sockets, one per worker, all bound to `address`.
#[derive(Debug)]
pub(crate) struct BoundListener {
    pub(crate) name: ListenerName,
    pub(crate) address: SocketAddr,
    pub(crate) sockets: Vec<std::net::TcpListener>,
}

/// Binds one listener once per worker. Port 0 is resolved by the first bind and reused by
/// the others, so all workers share the port the OS picked.
pub(crate) fn bind(
    listener: &ListenerConfig,
    workers: usize,
) -> Result<BoundListener, RuntimeError> {
    let error = |reason| RuntimeError::Bind {
        listener: listener.name.clone(),
        address: listener.bind,
        reason,
    };
    let first = bind_one(listener.bind).map_err(error)?;
    let address = first.local_addr().map_err(error)?;
    let mut sockets = vec![first];
    for _ in 1..workers {
        sockets.push(bind_one(address).map_err(error)?);
    }
    Ok(BoundListener {
        name: listener.name.clone(),
        address,
        sockets,
    })
}

fn bind_one(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
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
                .any(|l| l.name == r.name && l.bind == r.requested)
        })
        .map(|r| r.name.clone())
        .collect();
    let added = new
        .listeners
        .iter()
        .filter(|l| {
            !running
                .iter()
                .any(|r| r.name == l.name && r.requested == l.bind)
        })
        .collect();
    (removed, added)
}

/// A listener being served: its configured and bound addresses, and the token that stops it.
#[derive(Debug)]
pub(crate) struct RunningListener {
    pub(crate) name: ListenerName,
    /// The `bind` key as configured (port 0 stays 0, so a reload does not see a change).
    pub(crate) requested: SocketAddr,
    /// The address actually bound.
    pub(crate) address: SocketAddr,
    pub(crate) stop: tokio_util::sync::CancellationToken,
}
