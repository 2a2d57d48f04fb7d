//! Real HTTP clients: hyper over a fresh TCP connection (HTTP/1.1 or HTTP/2 prior
//! knowledge), and a raw socket for requests no well-behaved client would send.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A keep-alive HTTP/1.1 connection.
pub struct H1 {
    sender: http1::SendRequest<Full<Bytes>>,
}

/// An HTTP/2 cleartext connection (prior knowledge).
pub struct H2 {
    sender: http2::SendRequest<Full<Bytes>>,
}

impl H1 {
    pub async fn connect(addr: SocketAddr) -> H1 {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        H1 { sender }
    }

    pub async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Bytes>, hyper::Error> {
        self.sender.ready().await?;
        let response = self.sender.send_request(req).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Response::from_parts(parts, body))
    }

    pub async fn get(&mut self, addr: SocketAddr, path: &str) -> Response<Bytes> {
        self.send(get_request(addr, path)).await.unwrap()
    }
}

/// Sends one request with any body on a fresh HTTP/1.1 connection and returns the response
/// with its body still streaming.
pub async fn send_streaming<B>(
    addr: SocketAddr,
    req: Request<B>,
) -> Result<Response<hyper::body::Incoming>, hyper::Error>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    sender.send_request(req).await
}

/// Reads a body to its end, counting bytes without keeping them.
pub async fn count_body(mut body: hyper::body::Incoming) -> Result<u64, hyper::Error> {
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        total += frame?.data_ref().map_or(0, |d| d.len() as u64);
    }
    Ok(total)
}

impl H2 {
    pub async fn connect(addr: SocketAddr) -> H2 {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        H2 { sender }
    }

    pub async fn get(&mut self, addr: SocketAddr, path: &str) -> Response<Bytes> {
        let req = Request::get(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = self.sender.send_request(req).await.unwrap();
        let (parts, body) = response.into_parts();
        Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
    }
}

/// A GET request with `Host` set, as a browser sends it.
pub fn get_request(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// One GET on a fresh connection.
pub async fn get(addr: SocketAddr, path: &str) -> Response<Bytes> {
    H1::connect(addr).await.get(addr, path).await
}

/// One POST with `body` on a fresh connection.
pub async fn post(addr: SocketAddr, path: &str, body: &'static [u8]) -> Response<Bytes> {
    let req = Request::post(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    H1::connect(addr).await.send(req).await.unwrap()
}

/// One request with an empty body type, for callers that need a distinct body type.
pub fn empty_request(addr: SocketAddr, path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::new())
        .unwrap()
}

/// What came back on a raw connection.
#[derive(Debug)]
pub struct RawReply {
    /// Everything read before the peer closed or the wait ended.
    pub bytes: Vec<u8>,
    /// Whether the peer closed the connection.
    pub closed: bool,
}

impl RawReply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The status code of the first response, if any.
    pub fn status(&self) -> Option<u16> {
        let text = self.text();
        let line = text.lines().next()?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

/// Writes `bytes` on a new connection, then reads until the peer closes or `wait` passes
/// with nothing new.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> RawReply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_until_closed(&mut stream, wait).await
}

/// Reads until the peer closes or `wait` passes with nothing new.
pub async fn read_until_closed<S>(stream: &mut S, wait: Duration) -> RawReply
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return RawReply {
                    bytes: out,
                    closed: true,
                }
            }
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => {
                return RawReply {
                    bytes: out,
                    closed: false,
                }
            }
        }
    }
}
