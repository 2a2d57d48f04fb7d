//! Binding listener sockets: one `SO_REUSEPORT` socket per listener per worker, so the
//! kernel spreads new connections over the workers without a shared accept queue.

use std::net::SocketAddr;

use ballast_config::{Config, ListenerName};
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

/// Binds every listener of `config` once per worker. Port 0 is resolved by the first bind
/// and reused by the others, so all workers share the port the OS picked.
pub(crate) fn bind_all(
    config: &Config,
    workers: usize,
) -> Result<Vec<BoundListener>, RuntimeError> {
    config
        .listeners
        .iter()
        .map(|l| {
            let error = |reason| RuntimeError::Bind {
                listener: l.name.clone(),
                address: l.bind,
                reason,
            };
            let first = bind_one(l.bind).map_err(error)?;
            let address = first.local_addr().map_err(error)?;
            let mut sockets = vec![first];
            for _ in 1..workers {
                sockets.push(bind_one(address).map_err(error)?);
            }
            Ok(BoundListener {
                name: l.name.clone(),
                address,
                sockets,
            })
        })
        .collect()
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

/// Refuses a new configuration whose listener set or addresses differ from the running one.
pub(crate) fn ensure_same(old: &Config, new: &Config) -> Result<(), RuntimeError> {
    let describe = |c: &Config| {
        c.listeners
            .iter()
            .map(|l| format!("{}={}", l.name, l.bind))
            .collect::<Vec<_>>()
    };
    let (before, after) = (describe(old), describe(new));
    if before == after {
        Ok(())
    } else {
        Err(RuntimeError::ListenersChanged(format!(
            "{} -> {}",
            before.join(","),
            after.join(",")
        )))
    }
}
