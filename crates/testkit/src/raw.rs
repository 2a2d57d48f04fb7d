//! Misbehaving TCP peers for failure-path tests: they speak just enough to fail in one
//! precise way.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How a [`RawBackend`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawMode {
    /// Accepts, then resets the connection (RST) without reading.
    ResetOnAccept,
    /// Reads the whole request (head and a `Content-Length` body), then closes without
    /// answering: a clean FIN, never a reset from unread bytes.
    CloseAfterRequest,
    /// Reads the request head, then answers with bytes that are not HTTP.
    Garbage,
    /// Reads the request head, then never answers.
    Silent,
    /// Reads the request head, sends the start of a response head, then closes.
    PartialHead,
    /// Reads the request head, then neither reads another byte nor answers (its receive
    /// buffer is small, so a request body soon backs up).
    StopsReading,
    /// Reads the request head, answers with these bytes, then reads and drops the rest.
    Answer(&'static [u8]),
    /// Reads the request head, answers with these bytes, then closes (a body that ends
    /// with the connection).
    AnswerThenClose(&'static [u8]),
    /// Reads the whole request (a `Content-Length` body, or a chunked one ending in its
    /// last chunk), then answers with these bytes and reads and drops the rest: a target
    /// that takes any head, so every answer a client sees is the proxy's decision.
    AnswerAfterBody(&'static [u8]),
}

/// A TCP peer on 127.0.0.1:0 that fails as its mode says.
pub struct RawBackend {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RawBackend {
    pub async fn spawn(mode: RawMode) -> RawBackend {
        // A small receive buffer (inherited by accepted sockets), so a peer that stops
        // reading backs its sender up quickly.
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        socket.listen(128).unwrap();
        socket.set_nonblocking(true).unwrap();
        let listener =
            tokio::net::TcpListener::from_std(std::net::TcpListener::from(socket)).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(misbehave(stream, mode));
            }
        });
        RawBackend {
            addr,
            accepted,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn misbehave(mut stream: TcpStream, mode: RawMode) {
    if mode == RawMode::ResetOnAccept {
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        return;
    }
    let head = read_head(&mut stream).await;
    let mut sink = [0u8; 1024];
    match mode {
        RawMode::CloseAfterRequest => read_body(&mut stream, &head).await,
        RawMode::ResetOnAccept => {}
        RawMode::Garbage => {
            let _ = stream.write_all(b"this is not http at all\r\n\r\n").await;
        }
        RawMode::Silent => while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {},
        RawMode::PartialHead => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
        }
        // Holds the connection, reading nothing, until the test ends.
        RawMode::StopsReading => std::future::pending::<()>().await,
        RawMode::AnswerAfterBody(bytes) => {
            read_body(&mut stream, &head).await;
            let _ = stream.write_all(bytes).await;
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        }
        RawMode::AnswerThenClose(bytes) => {
            let _ = stream.write_all(bytes).await;
        }
        RawMode::Answer(bytes) => {
            let _ = stream.write_all(bytes).await;
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        }
    }
}

/// Reads until the end of the request head; returns every byte read, which may include
/// the start of the body.
async fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    seen
}

/// Reads the rest of a `Content-Length` body (or a chunked one, to its last chunk) whose
/// head (and perhaps first bytes) is in `seen`, so closing afterwards leaves nothing unread
/// (unread bytes turn a close into a reset, and the proxy would see a different failure
/// from run to run).
async fn read_body(stream: &mut TcpStream, seen: &[u8]) {
    let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let head = String::from_utf8_lossy(&seen[..end]);
    let chunked = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked")
        });
    if chunked {
        let mut body = seen[end + 4..].to_vec();
        let mut buf = [0u8; 4096];
        while !body.ends_with(b"0\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&buf[..n]),
            }
        }
        return;
    }
    let length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    let mut missing = length.saturating_sub(seen.len() - end - 4);
    let mut buf = [0u8; 4096];
    while missing > 0 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => missing = missing.saturating_sub(n),
        }
    }
}

/// An address on which nothing listens: connecting to it is refused.
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
