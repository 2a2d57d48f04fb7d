//! Bench only: a TCP relay that does nothing but move bytes, the floor any proxy's CPU per
//! request is compared with.
//!
//!   ballast-floor epoll --listen ADDR --target ADDR
//!   ballast-floor uring --listen ADDR --target ADDR
//!
//! Each accepted connection gets its own connection to the target, and what one side sends
//! is sent on to the other. One thread, no timers, no metrics, no balancing, no
//! configuration: what is left is the kernel's work and the least user space an event loop
//! needs. `epoll` is an edge-triggered loop that calls `recv` and `send` straight from
//! `epoll_wait`'s events (NGINX's model); `uring` is io_uring with one multishot receive
//! per socket into a ring of provided buffers and every send submitted in a batch (what a
//! completion-based proxy could reach). `bench/l4.sh` (`FLOOR=1`) runs both beside the
//! proxies.
//!
//! What it is not: a proxy. The end of either side closes both (no half-close); a side
//! whose socket is full is written to blocking (`epoll`) or resubmitted (`uring`), which
//! request/response loads never reach. It exits on a setup error and keeps serving
//! otherwise. Once listening it prints `listening ADDR` (`--listen 127.0.0.1:0` picks a
//! port).

mod epoll;
mod uring;

use std::net::{SocketAddr, TcpListener, TcpStream};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((mode, listen, target)) = parse(&args) else {
        eprintln!("usage: ballast-floor epoll|uring --listen ADDR --target ADDR");
        std::process::exit(2);
    };
    let listener = match TcpListener::bind(listen).and_then(|l| {
        l.set_nonblocking(true)?;
        Ok(l)
    }) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("ballast-floor: listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    // The address bound (port 0 picks one), for whoever waits for the relay to listen.
    if let Ok(addr) = listener.local_addr() {
        println!("listening {addr}");
    }
    let result = match mode {
        Mode::Epoll => epoll::serve(&listener, target),
        Mode::Uring => uring::serve(&listener, target),
    };
    if let Err(e) = result {
        eprintln!("ballast-floor: {e}");
        std::process::exit(1);
    }
}

enum Mode {
    Epoll,
    Uring,
}

fn parse(args: &[String]) -> Option<(Mode, SocketAddr, SocketAddr)> {
    let mode = match args.first()?.as_str() {
        "epoll" => Mode::Epoll,
        "uring" => Mode::Uring,
        _ => return None,
    };
    let (mut listen, mut target) = (None, None);
    for pair in args[1..].chunks(2) {
        let [key, value] = pair else { return None };
        let addr = value.parse().ok()?;
        match key.as_str() {
            "--listen" => listen = Some(addr),
            "--target" => target = Some(addr),
            _ => return None,
        }
    }
    Some((mode, listen?, target?))
}

/// The target's side of a new connection: connected (blocking: on loopback it is done at
/// once), then non-blocking, with `TCP_NODELAY` as every proxy in the benches sets it.
fn connect(target: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(target)?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// The client's side once accepted: non-blocking, `TCP_NODELAY`.
fn prepare(client: &TcpStream) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    client.set_nonblocking(true)
}
