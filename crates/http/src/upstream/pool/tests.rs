//! The pool with private connections (groups that send PROXY headers), against real sockets.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use ballast_balance::Algorithm;
use ballast_l4::proxy_protocol::{ProxyAddresses, ProxyVersion};

use super::super::{connect, Destination, ProxyHeader, Upstream};
use super::ConnPool;
use crate::buf::BufferPool;
use crate::limits::FdBudget;
use crate::testing::group;

/// A target that keeps every connection open and sends on the first line each began with.
fn target() -> (SocketAddr, Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, lines) = channel();
    std::thread::spawn(move || {
        while let Ok((mut stream, _)) = listener.accept() {
            let seen = seen.clone();
            // A thread each: a connection without a header sends nothing to read.
            std::thread::spawn(move || {
                let mut line = Vec::new();
                let mut byte = [0u8; 1];
                while !line.ends_with(b"\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    line.push(byte[0]);
                }
                let _ = seen.send(String::from_utf8_lossy(&line).into_owned());
                // Held open until the test process ends.
                let mut rest = Vec::new();
                let _ = stream.read_to_end(&mut rest);
            });
        }
    });
    (addr, lines)
}

fn header(client_port: u16) -> ProxyHeader {
    ProxyHeader {
        version: ProxyVersion::V1,
        addresses: ProxyAddresses {
            source: SocketAddr::from(([192, 0, 2, 1], client_port)),
            destination: SocketAddr::from(([198, 51, 100, 1], 80)),
        },
    }
}

async fn open(addr: SocketAddr, pool: &ConnPool, proxy: Option<&ProxyHeader>) -> Upstream {
    let group = group("app", 1, Algorithm::RoundRobin);
    let target = &group.targets[0];
    let to = Destination {
        address: addr,
        state: &target.state,
        pool,
        tls: None,
        proxy,
    };
    connect(to, Duration::from_secs(5), &FdBudget::unlimited())
        .await
        .unwrap()
}

fn owner(up: &Upstream) -> Option<u16> {
    up.owner.as_ref().map(|h| h.addresses.source.port())
}

#[tokio::test]
async fn a_private_connection_goes_back_only_to_its_client() {
    let (addr, lines) = target();
    let pool = ConnPool::new(1, 8, Duration::from_secs(60));
    let buffers = BufferPool::new();
    let (a, b) = (header(1111), header(2222));
    for up in [
        open(addr, &pool, Some(&a)).await,
        open(addr, &pool, Some(&b)).await,
        open(addr, &pool, None).await,
    ] {
        pool.checkin(0, up, &buffers);
    }
    // Each private connection began with its own header (the shared one sends nothing).
    let wait = Duration::from_secs(10);
    let mut seen: Vec<String> = (0..2).map(|_| lines.recv_timeout(wait).unwrap()).collect();
    seen.sort();
    assert_eq!(seen[0], "PROXY TCP4 192.0.2.1 198.51.100.1 1111 80\r\n");
    assert_eq!(seen[1], "PROXY TCP4 192.0.2.1 198.51.100.1 2222 80\r\n");
    let now = Instant::now();
    let got_b = pool.checkout(0, now, Some(&b)).unwrap();
    assert_eq!(owner(&got_b), Some(2222));
    assert!(got_b.reused);
    assert!(
        pool.checkout(0, now, Some(&b)).is_none(),
        "B's only one is out"
    );
    // Another client's connection, or a shared one, is never handed to B or to a
    // request without a header; the ones passed over stay.
    assert_eq!(owner(&pool.checkout(0, now, None).unwrap()), None);
    assert_eq!(owner(&pool.checkout(0, now, Some(&a)).unwrap()), Some(1111));
    assert!(pool.checkout(0, now, None).is_none());
    // A header of another version is another owner.
    pool.checkin(0, got_b, &buffers);
    let b2 = ProxyHeader {
        version: ProxyVersion::V2,
        ..b
    };
    assert!(pool.checkout(0, now, Some(&b2)).is_none());
    assert!(pool.checkout(0, now, Some(&b)).is_some());
}

#[tokio::test]
async fn a_full_pool_makes_room_for_a_private_connection() {
    let (addr, _) = target();
    let pool = ConnPool::new(1, 2, Duration::from_secs(60));
    let buffers = BufferPool::new();
    let (a, b, c) = (header(1), header(2), header(3));
    for h in [&a, &b, &c] {
        let up = open(addr, &pool, Some(h)).await;
        pool.checkin(0, up, &buffers);
    }
    let now = Instant::now();
    assert!(
        pool.checkout(0, now, Some(&a)).is_none(),
        "the oldest made room"
    );
    assert!(pool.checkout(0, now, Some(&b)).is_some());
    assert!(pool.checkout(0, now, Some(&c)).is_some());
    // A shared connection over a full pool just closes, as before.
    let pool = ConnPool::new(1, 1, Duration::from_secs(60));
    for _ in 0..2 {
        let up = open(addr, &pool, None).await;
        pool.checkin(0, up, &buffers);
    }
    assert!(pool.checkout(0, now, None).is_some());
    assert!(pool.checkout(0, now, None).is_none());
}

#[tokio::test]
async fn a_read_that_finds_nothing_gives_the_buffer_back() {
    // A request waiting for its answer holds no read buffer: at a thousand requests in
    // flight these were a quarter of the process's memory.
    let (addr, _) = target();
    let pool = ConnPool::new(1, 8, Duration::from_secs(60));
    let buffers = BufferPool::new();
    let mut up = open(addr, &pool, None).await;
    let polled =
        std::future::poll_fn(|cx| std::task::Poll::Ready(up.poll_read_buf(cx, &buffers, 1 << 16)))
            .await;
    assert!(polled.is_pending(), "the target sent nothing");
    assert!(!up.buf.is_allocated());
    assert_eq!(buffers.pooled()[0], 1);
}

#[tokio::test]
async fn idle_connections_beyond_the_hot_ring_are_kept_up_to_the_limit() {
    let (addr, _) = target();
    let max_idle = super::HOT_SLOTS + 8;
    let pool = ConnPool::new(1, max_idle, Duration::from_secs(60));
    let buffers = BufferPool::new();
    let mut open_ones = Vec::new();
    for _ in 0..=max_idle {
        open_ones.push(open(addr, &pool, None).await);
    }
    // One more than the limit: the last one closes.
    for up in open_ones {
        pool.checkin(0, up, &buffers);
    }
    let now = Instant::now();
    let mut kept = 0;
    while pool.checkout(0, now, None).is_some() {
        kept += 1;
    }
    assert_eq!(kept, max_idle);
}

#[tokio::test]
async fn spilled_connections_that_closed_are_dropped_while_the_hot_ring_serves() {
    let (addr, _) = target();
    let pool = ConnPool::new(1, super::HOT_SLOTS + 4, Duration::from_secs(60));
    let buffers = BufferPool::new();
    let mut opened = Vec::new();
    for _ in 0..super::HOT_SLOTS + 4 {
        opened.push(open(addr, &pool, None).await);
    }
    // The last four go past the full hot ring into the spill; then they are cut (closed).
    let spilled: Vec<_> = opened[super::HOT_SLOTS..]
        .iter()
        .map(|up| std::sync::Arc::clone(&up.cut))
        .collect();
    for up in opened {
        pool.checkin(0, up, &buffers);
    }
    for cut in &spilled {
        cut.raise();
    }
    // A steady load: each request takes a connection from the hot ring and gives it back.
    for _ in 0..4 {
        let up = pool
            .checkout(0, Instant::now(), None)
            .expect("an idle connection");
        pool.checkin(0, up, &buffers);
    }
    let queue = pool.queue(0).unwrap();
    assert_eq!(
        queue.len(),
        super::HOT_SLOTS,
        "the closed ones were dropped"
    );
}

#[tokio::test]
async fn a_private_connection_takes_the_place_of_the_one_idle_longest() {
    let (addr, _) = target();
    let pool = ConnPool::new(1, super::HOT_SLOTS + 1, Duration::from_secs(60));
    let buffers = BufferPool::new();
    let mut opened = Vec::new();
    for _ in 0..super::HOT_SLOTS {
        opened.push(open(addr, &pool, None).await);
    }
    let oldest_client = header(1111);
    opened.insert(0, open(addr, &pool, Some(&oldest_client)).await);
    // The one given back first fills the hot ring's first slot; the last goes to the spill.
    for up in opened {
        pool.checkin(0, up, &buffers);
    }
    let newcomer = header(2222);
    pool.checkin(0, open(addr, &pool, Some(&newcomer)).await, &buffers);
    let now = Instant::now();
    assert!(
        pool.checkout(0, now, Some(&oldest_client)).is_none(),
        "the connection idle longest made room"
    );
    let kept = pool
        .checkout(0, now, Some(&newcomer))
        .expect("the newcomer kept");
    assert_eq!(owner(&kept), Some(2222));
}
