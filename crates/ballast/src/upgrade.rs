//! Binary upgrade without downtime: a new Ballast process takes the listening sockets of the
//! running one over a Unix socket (`server.upgrade_socket`), so the accept queues carry over
//! and no connection attempt is refused; the old process then stops accepting and drains.
//!
//! Protocol (SOCK_SEQPACKET, one message per line, sockets as SCM_RIGHTS):
//! old → new `L <listener> <bind>` + one TCP socket, `U <listener> <bind>` + one UDP socket,
//! repeated; `A <bind>` + the admin socket;
//! `E` (end). new → old `R` once it serves them. old → new `B` once it has stopped listening
//! for upgrades (the new process then listens on the path itself), and the old one drains.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ballast_runtime::{InheritedListener, Runtime};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};

/// How long the new process may take between receiving the sockets and serving them.
const HANDOVER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Longest protocol message.
const MAX_MESSAGE: usize = 512;

/// What the previous process handed over.
#[derive(Debug, Default)]
pub(crate) struct Inherited {
    pub(crate) listeners: Vec<InheritedListener>,
    /// The admin listener's socket and its configured `bind`.
    pub(crate) admin: Option<(SocketAddr, std::net::TcpListener)>,
    /// The connection to the old process, to tell it when we serve.
    old: Option<OwnedFd>,
}

fn seqpacket() -> std::io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

fn send(
    socket: &OwnedFd,
    text: &str,
    fd: Option<std::os::fd::BorrowedFd<'_>>,
) -> std::io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(text.as_bytes())],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

fn receive(socket: &OwnedFd) -> std::io::Result<(String, Option<OwnedFd>)> {
    let mut buffer = [0u8; MAX_MESSAGE];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut buffer)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for received in fds {
                fd.get_or_insert(received);
            }
        }
    }
    if received.bytes == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the other process closed the upgrade socket",
        ));
    }
    let text = String::from_utf8_lossy(&buffer[..received.bytes]).into_owned();
    Ok((text, fd))
}

/// Takes the sockets of the process listening on `path`, if one is. A stale socket file (no
/// process behind it) is removed; no file means a normal start.
pub(crate) fn take_over(path: &Path) -> anyhow::Result<Inherited> {
    if !path.exists() {
        return Ok(Inherited::default());
    }
    let socket = seqpacket().context("cannot create the upgrade socket")?;
    let address = SocketAddrUnix::new(path).context("server.upgrade_socket: invalid path")?;
    if let Err(error) = rustix::net::connect(&socket, &address) {
        tracing::info!(path = %path.display(), %error, "no running Ballast behind the upgrade socket; removing it");
        let _ = std::fs::remove_file(path);
        return Ok(Inherited::default());
    }
    let mut inherited = Inherited::default();
    loop {
        let (message, fd) = receive(&socket).context("upgrade hand-over interrupted")?;
        let mut words = message.split_whitespace();
        match (words.next(), words.next(), words.next(), fd) {
            (Some("E"), ..) => break,
            (Some(kind @ ("L" | "U")), Some(name), Some(bind), Some(fd)) => {
                let requested: SocketAddr =
                    bind.parse().context("upgrade: bad listener address")?;
                let listener = inherited.listener(name, requested);
                if kind == "L" {
                    listener.sockets.push(std::net::TcpListener::from(fd));
                } else {
                    listener.udp.push(std::net::UdpSocket::from(fd));
                }
            }
            (Some("A"), Some(bind), _, Some(fd)) => {
                let requested: SocketAddr = bind.parse().context("upgrade: bad admin address")?;
                inherited.admin = Some((requested, std::net::TcpListener::from(fd)));
            }
            // A kind a later version added (a rollback to this binary): its socket is not
            // taken, and the listener it belongs to is bound afresh.
            (Some(kind), ..) if !matches!(kind, "L" | "U" | "A") => {
                tracing::warn!(message = %message, "upgrade: a socket of a kind this version does not know is left to the old process");
            }
            _ => anyhow::bail!("upgrade: unexpected message {message:?} from the running process"),
        }
    }
    let sockets: usize = inherited.listeners.iter().map(|l| l.sockets.len()).sum();
    let udp_sockets: usize = inherited.listeners.iter().map(|l| l.udp.len()).sum();
    tracing::info!(
        listeners = inherited.listeners.len(),
        sockets,
        udp_sockets,
        "took over the running process's sockets"
    );
    inherited.old = Some(socket);
    Ok(inherited)
}

impl Inherited {
    /// The entry of listener `name` bound as `requested`, made on its first socket.
    fn listener(&mut self, name: &str, requested: SocketAddr) -> &mut InheritedListener {
        let at = match self
            .listeners
            .iter()
            .position(|l| l.name == name && l.requested == requested)
        {
            Some(at) => at,
            None => {
                self.listeners.push(InheritedListener {
                    name: name.to_owned(),
                    requested,
                    sockets: Vec::new(),
                    udp: Vec::new(),
                });
                self.listeners.len() - 1
            }
        };
        &mut self.listeners[at]
    }

    /// Tells the old process we serve; waits until it has stopped listening for upgrades.
    ///
    /// Never fails the new process: it already serves the sockets, so whatever the old one
    /// does now (it crashed, it said something odd), this one keeps serving.
    pub(crate) fn release_old(&mut self) {
        let Some(old) = self.old.take() else {
            return;
        };
        match send(&old, "R", None).and_then(|()| receive(&old)) {
            Ok((bye, _)) if bye.trim() == "B" => {
                tracing::info!("the previous process stopped accepting and drains");
            }
            Ok((other, _)) => {
                tracing::warn!(reply = %other, "the previous process answered oddly; serving anyway");
            }
            Err(error) => {
                tracing::warn!(%error, "the previous process did not confirm; serving anyway");
            }
        }
    }
}

/// Serves upgrade requests on `path` from a thread of its own. When a new process has taken
/// the sockets and serves them, `on_handed_over` runs (it stops this process).
pub(crate) fn listen(
    path: PathBuf,
    runtime: Arc<Runtime>,
    admin: Option<(SocketAddr, std::net::TcpListener)>,
    on_handed_over: impl FnOnce() + Send + 'static,
) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(&path);
    let socket = seqpacket().context("cannot create the upgrade socket")?;
    let address = SocketAddrUnix::new(&path).context("server.upgrade_socket: invalid path")?;
    rustix::net::bind(&socket, &address)
        .with_context(|| format!("server.upgrade_socket: cannot listen on {}", path.display()))?;
    rustix::net::listen(&socket, 4).context("cannot listen on the upgrade socket")?;
    // Whoever connects gets every listening socket: only this user may.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .context("cannot restrict the upgrade socket to its owner")?;
    }
    tracing::info!(path = %path.display(), "listening for binary upgrades");
    std::thread::Builder::new()
        .name("ballast-upgrade".to_owned())
        .spawn(move || {
            let mut on_handed_over = Some(on_handed_over);
            loop {
                let peer = match rustix::net::accept_with(&socket, SocketFlags::CLOEXEC) {
                    Ok(peer) => peer,
                    Err(error) => {
                        tracing::error!(%error, "upgrade socket accept failed");
                        return;
                    }
                };
                // A peer that connects and goes silent must not block upgrades for good.
                if let Err(error) = rustix::net::sockopt::set_socket_timeout(
                    &peer,
                    rustix::net::sockopt::Timeout::Recv,
                    Some(HANDOVER_TIMEOUT),
                ) {
                    tracing::warn!(%error, "cannot time the upgrade peer out");
                }
                match hand_over(&peer, &runtime, admin.as_ref()) {
                    Ok(()) => {
                        // Stop listening before confirming, so the new process can take the path.
                        drop(socket);
                        let _ = std::fs::remove_file(&path);
                        if let Err(error) = send(&peer, "B", None) {
                            tracing::warn!(%error, "cannot confirm the upgrade");
                        }
                        tracing::info!("sockets handed over to the new process: stopping");
                        if let Some(stop) = on_handed_over.take() {
                            stop();
                        }
                        return;
                    }
                    Err(error) => tracing::error!(error = %crate::report(&error), "binary upgrade failed; this process keeps serving"),
                }
            }
        })
        .context("cannot start the upgrade thread")?;
    Ok(())
}

fn hand_over(
    peer: &OwnedFd,
    runtime: &Runtime,
    admin: Option<&(SocketAddr, std::net::TcpListener)>,
) -> anyhow::Result<()> {
    for listener in runtime.handover() {
        let (name, bind) = (&listener.name, listener.requested);
        for socket in &listener.sockets {
            send(peer, &format!("L {name} {bind}"), Some(socket.as_fd()))?;
        }
        for socket in &listener.udp {
            send(peer, &format!("U {name} {bind}"), Some(socket.as_fd()))?;
        }
    }
    if let Some((bind, socket)) = admin {
        send(peer, &format!("A {bind}"), Some(socket.as_fd()))?;
    }
    send(peer, "E", None)?;
    let (ready, _) = receive(peer)?;
    anyhow::ensure!(
        ready.trim() == "R",
        "the new process did not start (said {ready:?})"
    );
    Ok(())
}
