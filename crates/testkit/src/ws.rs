//! WebSocket peers for upgrade tests: a real WebSocket echo server (tungstenite's), and a raw
//! peer that switches protocols and then echoes bytes, for what a WebSocket library hides
//! (half-close, extensions it does not implement, bytes exactly as sent).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// The upgrade request a WebSocket target received: its header fields, names lowercase.
pub type SeenHeaders = Vec<(String, String)>;

/// A WebSocket echo server on 127.0.0.1:0: every text or binary message comes back as it
/// came; pings are answered (by tungstenite); a text message `close:CODE` makes it close
/// with that code and reason `bye`. With `refuse`, it answers upgrades with `403`.
pub struct WsBackend {
    pub addr: SocketAddr,
    upgrades: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<SeenHeaders>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WsBackend {
    pub async fn spawn() -> WsBackend {
        Self::start(false).await
    }

    /// A server that refuses every upgrade with `403` and a body.
    pub async fn refusing() -> WsBackend {
        Self::start(true).await
    }

    async fn start(refuse: bool) -> WsBackend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upgrades = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (u, o, s) = (upgrades.clone(), open.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(stream, refuse, u.clone(), o.clone(), s.clone()));
            }
        });
        WsBackend {
            addr,
            upgrades,
            open,
            seen,
            task,
        }
    }

    /// Upgrades accepted so far.
    pub fn upgrades(&self) -> usize {
        self.upgrades.load(Ordering::SeqCst)
    }

    /// WebSocket connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// The header fields of every upgrade request received, in order.
    pub fn seen(&self) -> Vec<SeenHeaders> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for WsBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Counts an open connection for as long as it lives.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

// tungstenite's handshake callback returns its own (large) error response type.
#[allow(clippy::result_large_err)]
async fn serve(
    stream: TcpStream,
    refuse: bool,
    upgrades: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<SeenHeaders>>>,
) {
    let record = |req: &Request, mut response: Response| {
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        seen.lock().unwrap().push(headers);
        if refuse {
            let mut refused = ErrorResponse::new(Some("no websockets here".to_owned()));
            *refused.status_mut() = http::StatusCode::FORBIDDEN;
            return Err(refused);
        }
        // Agree to the first subprotocol offered, as a server that knows it would.
        if let Some(offered) = req.headers().get("sec-websocket-protocol") {
            let first = offered
                .to_str()
                .unwrap_or("")
                .split(',')
                .next()
                .unwrap_or("");
            response.headers_mut().insert(
                "sec-websocket-protocol",
                http::HeaderValue::from_str(first.trim()).unwrap(),
            );
        }
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record).await else {
        return;
    };
    upgrades.fetch_add(1, Ordering::SeqCst);
    open.fetch_add(1, Ordering::SeqCst);
    let _open = Open(open);
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(text) if text.starts_with("close:") => {
                let code: u16 = text["close:".len()..].parse().unwrap_or(1000);
                let _ = ws
                    .close(Some(CloseFrame {
                        code: CloseCode::from(code),
                        reason: "bye".into(),
                    }))
                    .await;
            }
            Message::Text(_) | Message::Binary(_) => {
                if ws.send(message).await.is_err() {
                    return;
                }
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            Message::Close(_) => {}
        }
    }
}

/// A raw peer that answers any request head with `101 Switching Protocols` (plus
/// `extra` header lines), then echoes every byte; when the client ends its stream it
/// writes `end` and closes (a half-close honoured end to end shows as that last word).
pub struct RawSwitchBackend {
    pub addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawSwitchBackend {
    pub async fn spawn(extra: &'static str) -> RawSwitchBackend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = heads.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(switch_and_echo(stream, extra, recorded.clone()));
            }
        });
        RawSwitchBackend { addr, heads, task }
    }

    /// Every request head received, as text.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for RawSwitchBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn switch_and_echo(mut stream: TcpStream, extra: &str, heads: Arc<Mutex<Vec<String>>>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let end = loop {
        if let Some(i) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    };
    heads
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&seen[..end]).into_owned());
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{extra}\r\n"
    );
    if stream.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    if stream.write_all(&seen[end..]).await.is_err() {
        return;
    }
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
    let _ = stream.write_all(b"end").await;
    let _ = stream.shutdown().await;
}

/// A WebSocket opened over HTTP/2 (RFC 8441): the stream's `CONNECT` with `:protocol
/// websocket` on its own connection over `io`, as browsers send it.
pub type H2WebSocket =
    tokio_tungstenite::WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>;

/// Opens a WebSocket over HTTP/2 on `io` (h2c, or TLS with `h2` agreed) to `scheme://
/// authority/path`, offering `protocols`. Returns the response head, and the WebSocket when
/// it is `200`.
pub async fn websocket_over_h2<I>(
    io: I,
    scheme: &str,
    authority: &str,
    path: &str,
    protocols: Option<&str>,
) -> (http::response::Parts, Option<H2WebSocket>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::Empty;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = || {
        let mut request = http::Request::connect(format!("{scheme}://{authority}{path}"))
            .header("sec-websocket-version", "13");
        if let Some(p) = protocols {
            request = request.header("sec-websocket-protocol", p);
        }
        let mut request = request.body(Empty::<bytes::Bytes>::new()).unwrap();
        request
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        request
    };
    // The server's SETTINGS (with ENABLE_CONNECT_PROTOCOL) may not have arrived yet: until
    // they have, the client library refuses to send an extended CONNECT.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut response = loop {
        match sender.send_request(request()).await {
            Ok(response) => break response,
            Err(error) if tokio::time::Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(error) => panic!("extended CONNECT failed: {error}"),
        }
    };
    if response.status() != http::StatusCode::OK {
        let (parts, _) = response.into_parts();
        return (parts, None);
    }
    let upgraded = hyper::upgrade::on(&mut response).await.unwrap();
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    let (parts, _) = response.into_parts();
    (parts, Some(ws))
}
