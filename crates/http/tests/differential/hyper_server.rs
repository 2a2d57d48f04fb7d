//! hyper's HTTP/1 server as the reference: what it does with the first request of some bytes.

use std::cell::RefCell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body::Body as _;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What hyper did with the first request of the bytes.
#[derive(Debug)]
pub(crate) enum Hyper {
    /// The service was called for the first request.
    Accepted(Seen),
    /// No request reached the service; the status hyper answered with, if it answered.
    Refused(Option<u16>),
}

/// What the service saw of the first request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Seen {
    pub(crate) method: Vec<u8>,
    pub(crate) path: Vec<u8>,
    /// `Some(n)`: exactly `n` bytes (0 is no body); `None`: chunked.
    pub(crate) length: Option<u64>,
    pub(crate) data: Vec<u8>,
    /// The body ended cleanly (not cut short by the client's close).
    pub(crate) complete: bool,
}

/// Virtual time one exchange with hyper may take; only a stalled one ever reaches it.
const BOUND: Duration = Duration::from_secs(10);

/// Serves `bytes` with hyper's HTTP/1 server over an in-memory duplex, the client side
/// closing once they are written, and reports what happened to the first request.
pub(crate) async fn run_hyper(bytes: &[u8]) -> Result<Hyper, String> {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let first: Rc<RefCell<Option<Seen>>> = Rc::default();
    let record = Rc::clone(&first);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let record = Rc::clone(&record);
        async move {
            let is_first = record.borrow().is_none();
            let seen = Seen {
                method: req.method().as_str().as_bytes().to_vec(),
                path: req.uri().path().as_bytes().to_vec(),
                length: req.body().size_hint().exact(),
                ..Seen::default()
            };
            if is_first {
                *record.borrow_mut() = Some(seen);
            }
            let (data, complete) = read_body(req.into_body()).await;
            if let Some(seen) = record.borrow_mut().as_mut().filter(|_| is_first) {
                seen.data = data;
                seen.complete = complete;
            }
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .half_close(true)
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(server), service);
    let client_side = async {
        // The server may close before reading everything: a failed write is an answer too.
        let _ = client.write_all(bytes).await;
        let _ = client.shutdown().await;
        let mut response = Vec::new();
        let _ = client.read_to_end(&mut response).await;
        response
    };
    let exchange = async { tokio::join!(connection, client_side) };
    let (_, response) = tokio::time::timeout(BOUND, exchange)
        .await
        .map_err(|_| "hyper's exchange stalled".to_string())?;
    let seen = first.borrow_mut().take();
    Ok(match seen {
        Some(seen) => Hyper::Accepted(seen),
        None => Hyper::Refused(status(&response)),
    })
}

/// Reads a request body to its end: the bytes, and whether it ended cleanly.
async fn read_body(mut body: Incoming) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(bytes) = frame.into_data() {
                    data.extend_from_slice(&bytes);
                }
            }
            Some(Err(_)) => return (data, false),
            None => return (data, true),
        }
    }
}

/// The status code of the response at the start of `response`.
fn status(response: &[u8]) -> Option<u16> {
    let code = response.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}
