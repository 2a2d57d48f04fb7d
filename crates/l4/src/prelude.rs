//! What an L4 connection sends before its bytes are forwarded: a PROXY protocol header from
//! a trusted load balancer in front, and, when the listener routes by SNI, the TLS
//! ClientHello (read, not consumed: every byte still goes to the target).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::client_hello::{self, ClientHelloInfo, Peek};
use crate::proxy_protocol::{self, Parsed, ProxyAddresses};

/// Why a connection was closed before it was forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreludeRefusal {
    /// A PROXY header from an address not in `accept_proxy_protocol`, or none where one
    /// was required, or a malformed one.
    Proxy(&'static str),
    /// The client closed or failed before sending what was needed.
    Closed,
}

/// The client's addresses as a trusted PROXY header told them (or as the socket has them).
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    /// The client.
    pub client: SocketAddr,
    /// The address it connected to.
    pub local: SocketAddr,
}

/// Reads the PROXY header a trusted upstream sends first, leaving in `buf` whatever the
/// client sent after it.
pub async fn read_proxy_header(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    socket: Endpoints,
    timeout: Duration,
) -> Result<Endpoints, PreludeRefusal> {
    let deadline = Instant::now() + timeout;
    loop {
        match proxy_protocol::parse(buf) {
            Ok(Parsed::Complete {
                addresses,
                consumed,
                ..
            }) => {
                buf.drain(..consumed);
                return Ok(match addresses {
                    Some(a) => Endpoints {
                        client: a.source,
                        local: a.destination,
                    },
                    // LOCAL (a health check of the proxy in front) or UNKNOWN: the socket's.
                    None => socket,
                });
            }
            Ok(Parsed::Incomplete) => {}
            Err(_) => return Err(PreludeRefusal::Proxy("malformed PROXY header")),
        }
        if buf.len() >= proxy_protocol::MAX_HEADER_BYTES {
            return Err(PreludeRefusal::Proxy("PROXY header too long"));
        }
        match read_more(stream, buf, deadline).await {
            Ok(true) => {}
            Ok(false) => return Err(PreludeRefusal::Closed),
            Err(()) => return Err(PreludeRefusal::Proxy("no PROXY header in time")),
        }
    }
}

/// Reads until `buf` holds a whole ClientHello, the bytes cannot be one, or the time is up.
/// `None`: no server name or ALPN to route by (not TLS, malformed, too slow); the bytes read
/// are kept in `buf` either way.
pub async fn peek_client_hello(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    timeout: Duration,
) -> Result<Option<ClientHelloInfo>, PreludeRefusal> {
    let deadline = Instant::now() + timeout;
    loop {
        match client_hello::peek(buf) {
            Ok(Peek::Complete(info)) => return Ok(Some(info)),
            Ok(Peek::Incomplete) => {}
            Err(_) => return Ok(None),
        }
        match read_more(stream, buf, deadline).await {
            Ok(true) => {}
            Ok(false) => return Err(PreludeRefusal::Closed),
            Err(()) => return Ok(None),
        }
    }
}

/// One read into `buf`: `Ok(false)` at the end of the stream, `Err` when the deadline passed.
async fn read_more(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<bool, ()> {
    buf.reserve(2048);
    match tokio::time::timeout_at(deadline, stream.read_buf(buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Ok(false),
        Ok(Ok(_)) => Ok(true),
        Err(_) => Err(()),
    }
}

/// Reads a PROXY header from a connection that an HTTP listener then serves as it came:
/// the header is found with `MSG_PEEK` and only its own bytes are consumed, so the request
/// behind it stays in the socket for the HTTP parser. `Ok(None)`: a `LOCAL` (or `UNKNOWN`)
/// header, the socket's own addresses apply.
pub async fn consume_proxy_header(
    stream: &mut TcpStream,
    timeout: Duration,
) -> Result<Option<ProxyAddresses>, PreludeRefusal> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; proxy_protocol::MAX_HEADER_BYTES];
    let mut seen = 0;
    loop {
        let peeked = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(PreludeRefusal::Closed),
            Ok(Ok(n)) => n,
            Err(_) => return Err(PreludeRefusal::Proxy("no PROXY header in time")),
        };
        match proxy_protocol::parse(&buf[..peeked]) {
            Ok(Parsed::Complete {
                addresses,
                consumed,
                ..
            }) => {
                // The bytes are in the socket already: this read takes exactly them.
                stream
                    .read_exact(&mut buf[..consumed])
                    .await
                    .map_err(|_| PreludeRefusal::Closed)?;
                return Ok(addresses);
            }
            Ok(Parsed::Incomplete) if peeked < buf.len() => {
                // A header split over segments (rare: proxies write it in one): a peek
                // returns at once while bytes wait, so wait a moment for more.
                if peeked == seen {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen = peeked;
            }
            Ok(Parsed::Incomplete) => return Err(PreludeRefusal::Proxy("PROXY header too long")),
            Err(_) => return Err(PreludeRefusal::Proxy("malformed PROXY header")),
        }
    }
}
