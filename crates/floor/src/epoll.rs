//! The edge-triggered epoll relay: `recv` and `send` straight from `epoll_wait`'s events.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use rustix::event::epoll;
use rustix::net::{RecvFlags, SendFlags};

/// Event data of the listener (sockets use their descriptor number).
const LISTENER: u64 = u64::MAX;
/// One read's buffer, as the proxies' relays use.
const BUF: usize = 16 * 1024;

/// One side of a relayed connection, at the index of its descriptor number.
struct Side {
    socket: TcpStream,
    peer: usize,
}

pub(crate) fn serve(listener: &TcpListener, target: SocketAddr) -> io::Result<()> {
    let poller = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(
        &poller,
        listener,
        epoll::EventData::new_u64(LISTENER),
        epoll::EventFlags::IN,
    )?;
    let mut sides: Vec<Option<Side>> = Vec::new();
    let mut buf = vec![0u8; BUF];
    let mut events = Vec::with_capacity(512);
    loop {
        events.clear();
        epoll::wait(&poller, rustix::buffer::spare_capacity(&mut events), None)?;
        for event in &events {
            let data = event.data.u64();
            if data == LISTENER {
                accept_all(listener, target, &poller, &mut sides);
            } else {
                relay(data as usize, &mut sides, &mut buf);
            }
        }
    }
}

fn accept_all(
    listener: &TcpListener,
    target: SocketAddr,
    poller: &impl std::os::fd::AsFd,
    sides: &mut Vec<Option<Side>>,
) {
    while let Ok((client, _)) = listener.accept() {
        let Ok(server) = crate::prepare(&client).and_then(|()| crate::connect(target)) else {
            continue;
        };
        let (c, s) = (client.as_raw_fd() as usize, server.as_raw_fd() as usize);
        let flags = epoll::EventFlags::IN | epoll::EventFlags::ET;
        for (index, socket) in [(c, &client), (s, &server)] {
            if epoll::add(
                poller,
                socket,
                epoll::EventData::new_u64(index as u64),
                flags,
            )
            .is_err()
            {
                return;
            }
        }
        if sides.len() <= c.max(s) {
            sides.resize_with(c.max(s) + 1, || None);
        }
        sides[c] = Some(Side {
            socket: client,
            peer: s,
        });
        sides[s] = Some(Side {
            socket: server,
            peer: c,
        });
    }
}

/// Moves what `from` has to its peer; a short read means drained (edge-triggered: the next
/// data raises a new event). The end or an error of either side closes both.
fn relay(from: usize, sides: &mut [Option<Side>], buf: &mut [u8]) {
    loop {
        let Some(Some(side)) = sides.get(from) else {
            return;
        };
        let peer = side.peer;
        let Some(Some(to)) = sides.get(peer) else {
            return;
        };
        match rustix::net::recv(&side.socket, &mut *buf, RecvFlags::empty()) {
            Ok((0, _)) => return close(from, peer, sides),
            Ok((n, _)) => {
                if send_all(&to.socket, &buf[..n]).is_err() {
                    return close(from, peer, sides);
                }
                if n < buf.len() {
                    return;
                }
            }
            Err(rustix::io::Errno::AGAIN) => return,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return close(from, peer, sides),
        }
    }
}

/// A send that would block (the peer's socket full) finishes blocking: the loads this tool
/// is for never fill a socket.
fn send_all(socket: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::net::send(socket, bytes, SendFlags::NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::AGAIN) => {
                socket.set_nonblocking(false)?;
                let sent = std::io::Write::write_all(&mut &*socket, bytes);
                socket.set_nonblocking(true)?;
                return sent;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Dropping both sides closes them, which also takes them out of the epoll set.
fn close(a: usize, b: usize, sides: &mut [Option<Side>]) {
    for index in [a, b] {
        if let Some(slot) = sides.get_mut(index) {
            *slot = None;
        }
    }
}
