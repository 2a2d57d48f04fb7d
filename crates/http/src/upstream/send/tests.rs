//! What an exchange reports about the request it sent, against real sockets.

use std::io::{Read, Write};
use std::net::SocketAddr;

use super::*;
use crate::limits::FdBudget;
use crate::testing::group;
use ballast_balance::Algorithm;

/// A request body held in memory: `buffered` bytes came with the head (sent as they are,
/// taken once written), the rest is handed over whole at the first fill.
struct Memory {
    buffered: Vec<u8>,
    took: usize,
    rest: Option<Vec<u8>>,
}

impl Memory {
    /// A body none of which came with the head.
    fn unbuffered(body: Option<Vec<u8>>) -> Self {
        Self {
            buffered: Vec::new(),
            took: 0,
            rest: body,
        }
    }
}

impl Upload for Memory {
    fn poll_fill(&mut self, _: &mut Context<'_>, out: &mut Vec<u8>) -> Poll<Result<bool, Fault>> {
        assert!(
            self.took == self.buffered.len(),
            "the buffered start is written before the rest is asked for"
        );
        if let Some(body) = self.rest.take() {
            out.extend_from_slice(&body);
        }
        Poll::Ready(Ok(true))
    }

    fn poll_continue(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        Poll::Ready(Ok(false))
    }

    fn last_activity(&self) -> Instant {
        Instant::now()
    }

    fn started(&self) -> bool {
        self.took > 0 || self.rest.is_none()
    }

    fn finished(&self) -> bool {
        self.took == self.buffered.len() && self.rest.is_none()
    }

    fn buffered_as_is(&self) -> &[u8] {
        &self.buffered[self.took..]
    }

    fn took_as_is(&mut self, n: usize) -> bool {
        self.took += n;
        self.finished()
    }
}

/// A target with a small receive buffer that reads one request head, answers `answer` and
/// then reads nothing more (as a server that answers early and leaves the body unread). It
/// holds the connection until the returned sender is dropped.
fn early_answering_target(answer: &'static [u8]) -> (SocketAddr, std::sync::mpsc::Sender<()>) {
    let (hold, until) = std::sync::mpsc::channel::<()>();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(8).unwrap();
    let listener = std::net::TcpListener::from(socket);
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            seen.push(byte[0]);
        }
        stream.write_all(answer).unwrap();
        // Holds the connection, unread, until the test is done with it.
        let _ = until.recv();
    });
    (addr, hold)
}

async fn exchange(addr: SocketAddr, head: &[u8], body: Option<Vec<u8>>) -> (u16, bool) {
    exchange_with(addr, head, &mut Memory::unbuffered(body)).await
}

/// Sends `head` and `upload`'s body to `addr`; the answer's status and whether the whole
/// request was sent.
async fn exchange_with<U: Upload>(addr: SocketAddr, head: &[u8], upload: &mut U) -> (u16, bool) {
    let group = group("app", 1, Algorithm::RoundRobin);
    let target = &group.targets[0];
    let destination = super::super::Destination {
        proxy: None,
        address: addr,
        state: &target.state,
        pool: &target.pool,
        tls: None,
    };
    let mut up = super::super::connect(
        destination,
        std::time::Duration::from_secs(5),
        &FdBudget::unlimited(),
    )
    .await
    .unwrap();
    let pool = BufferPool::new();
    let mut fields = Vec::new();
    let mut send = RoundTrip::new(
        &mut up,
        head,
        upload,
        &pool,
        &mut fields,
        super::RequestKind {
            head: false,
            idempotent: false,
            bodiless: false,
            upgrade: false,
            due: None,
            min_rate: None,
        },
        Instant::now(),
    );
    let head = std::future::poll_fn(|cx| Pin::new(&mut send).poll(cx))
        .await
        .unwrap();
    (head.status, send.request_sent())
}

#[tokio::test]
async fn an_early_answer_with_the_body_half_written_leaves_the_request_unsent() {
    let (addr, _hold) =
        early_answering_target(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
    // More body than the socket buffers on both sides can take while the target reads
    // nothing: the answer comes while most of it is still unwritten.
    let body = vec![b'x'; 16 << 20];
    let head = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (status, sent) = exchange(addr, head.as_bytes(), Some(body)).await;
    assert_eq!(status, 401);
    assert!(
        !sent,
        "a connection with half a body written would go back to the pool"
    );
}

#[tokio::test]
async fn a_bodiless_request_answered_is_sent() {
    let (addr, _hold) = early_answering_target(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let (status, sent) = exchange(addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", None).await;
    assert_eq!((status, sent), (200, true));
}

/// A target that reads a request of `len` bytes, answers 200 and hands back what it read.
fn recording_target(len: usize) -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut seen = vec![0u8; len];
        stream.read_exact(&mut seen).unwrap();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        seen
    });
    (addr, seen)
}

#[tokio::test]
async fn a_body_that_came_with_its_head_is_written_with_it_and_in_order() {
    for (buffered, rest) in [(1000, None), (300, Some(700))] {
        let body: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let head = format!(
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut expected = head.clone().into_bytes();
        expected.extend_from_slice(&body);
        let (addr, seen) = recording_target(expected.len());
        let mut upload = Memory {
            buffered: body[..buffered].to_vec(),
            took: 0,
            rest: rest.map(|_| body[buffered..].to_vec()),
        };
        let (status, sent) = exchange_with(addr, head.as_bytes(), &mut upload).await;
        assert_eq!(status, 200);
        assert!(sent, "buffered {buffered}: the whole request was sent");
        assert_eq!(
            upload.took, buffered,
            "the buffered start was taken once written"
        );
        assert!(
            seen.join().unwrap() == expected,
            "buffered {buffered}: the target read the request as sent"
        );
    }
}
