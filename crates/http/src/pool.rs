//! Keep-alive connections to one target, per worker thread.
//!
//! Each worker thread has its own queue, so a connection is only ever used by the thread
//! whose runtime drives it (no cross-thread wake-ups), and the queues are lock-free so the
//! type can live in the shared snapshot. A connection goes back to its queue when the
//! response that used it has been read to the end; one that was closed or sat idle too long
//! is dropped when next seen.

use std::time::Duration;

use crossbeam_queue::{ArrayQueue, SegQueue};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::body::ClientBody;
use crate::snapshot::{Target, TargetTlsRoute};
use rustls::pki_types::ServerName;
use std::sync::Arc;

/// The sending half of an HTTP/1.1 connection to a target.
pub(crate) type Sender = SendRequest<ClientBody>;

/// Idle keep-alive connections to one target.
#[derive(Debug)]
pub struct ConnPool {
    per_worker: Box<[ArrayQueue<Idle>]>,
    idle_timeout: Duration,
    enabled: bool,
    /// Every connection task to this target that may still run, so a deregistered target's
    /// connections can all be cut when its delay is over (in-flight requests included).
    live: SegQueue<AbortHandle>,
    /// Live handles kept before finished ones are swept out.
    live_limit: usize,
}

#[derive(Debug)]
struct Idle {
    sender: Sender,
    since: Instant,
}

/// Why a new connection to a target could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The target did not accept within the connect timeout.
    #[error("connect timed out")]
    Timeout,
    /// The operating system refused or failed the connection.
    #[error("connect failed: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP/1 handshake on the new connection failed.
    #[error("handshake failed: {0}")]
    Handshake(#[from] hyper::Error),
    /// The TLS handshake with the target failed (its certificate did not verify, or it
    /// does not speak TLS).
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
}

impl ConnPool {
    /// A pool for `workers` threads keeping at most `max_idle` idle connections each.
    pub fn new(workers: usize, max_idle: usize, idle_timeout: Duration) -> Self {
        let per_worker = (0..workers.max(1))
            .map(|_| ArrayQueue::new(max_idle.max(1)))
            .collect();
        Self {
            per_worker,
            idle_timeout,
            enabled: max_idle > 0,
            live: SegQueue::new(),
            live_limit: 64 + 2 * workers.max(1) * max_idle.min(1024),
        }
    }

    /// Closes every connection to the target now, idle or busy. Requests in flight on them
    /// fail (their clients see the response cut, or 502 before the head).
    pub fn close_all(&self) {
        for queue in self.per_worker.iter() {
            while queue.pop().is_some() {}
        }
        while let Some(task) = self.live.pop() {
            task.abort();
        }
    }

    fn track(&self, task: AbortHandle) {
        if self.live.len() >= self.live_limit {
            // Sweep finished connections out; connections are made rarely, so this is too.
            for _ in 0..self.live.len() {
                match self.live.pop() {
                    Some(old) if !old.is_finished() => self.live.push(old),
                    Some(_) => {}
                    None => break,
                }
            }
        }
        self.live.push(task);
    }

    /// Number of worker queues this pool was built for.
    pub fn workers(&self) -> usize {
        self.per_worker.len()
    }

    /// An idle connection that is still open, if any.
    pub(crate) fn checkout(&self, worker: usize) -> Option<Sender> {
        let queue = self.queue(worker)?;
        while let Some(idle) = queue.pop() {
            if idle.sender.is_closed() || idle.since.elapsed() >= self.idle_timeout {
                continue;
            }
            return Some(idle.sender);
        }
        None
    }

    /// Returns a connection whose last response was read to the end.
    pub(crate) fn checkin(&self, worker: usize, sender: Sender) {
        if !self.enabled || sender.is_closed() {
            return;
        }
        if let Some(queue) = self.queue(worker) {
            // A full queue means enough idle connections already: this one just closes.
            let _dropped = queue.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    fn queue(&self, worker: usize) -> Option<&ArrayQueue<Idle>> {
        self.per_worker.get(worker % self.per_worker.len().max(1))
    }
}

/// Opens a new HTTP/1.1 connection to `address` and starts driving it on this thread; the
/// pool keeps a handle on it so [`ConnPool::close_all`] can cut it.
pub(crate) async fn connect(
    target: &Target,
    tls: Option<&TargetTlsRoute>,
    timeout: Duration,
) -> Result<Sender, ConnectError> {
    let address = target.address;
    let deadline = tokio::time::Instant::now() + timeout;
    let stream = match tokio::time::timeout_at(deadline, TcpStream::connect(address)).await {
        Ok(stream) => stream?,
        Err(_) => return Err(ConnectError::Timeout),
    };
    if let Err(error) = stream.set_nodelay(true) {
        // Only fails on a socket that is already dead; the request will say how.
        tracing::debug!(target_address = %address, %error, "set_nodelay failed");
    }
    let Some(tls) = tls else {
        return drive(target, stream).await;
    };
    let name = match &tls.server_name {
        Some(name) => ServerName::try_from(name.clone()).map_err(|e| {
            ConnectError::Tls(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
        })?,
        None => ServerName::IpAddress(address.ip().into()),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&tls.client));
    // The connect timeout covers the TLS handshake too (ALB: 10 s for both, 504 beyond).
    match tokio::time::timeout_at(deadline, connector.connect(name, stream)).await {
        Ok(Ok(stream)) => drive(target, stream).await,
        Ok(Err(error)) => Err(ConnectError::Tls(error)),
        Err(_) => Err(ConnectError::Timeout),
    }
}

/// Starts HTTP/1.1 on a new connection and drives it on this thread; the pool keeps a
/// handle on it so [`ConnPool::close_all`] can cut it.
async fn drive<I>(target: &Target, io: I) -> Result<Sender, ConnectError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let address = target.address;
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(io))
        .await?;
    // Counted open while its task runs, for least_connections.
    let open = target.state.open_connection();
    let task = tokio::spawn(async move {
        let _open = open;
        if let Err(error) = connection.await {
            tracing::debug!(target_address = %address, %error, "target connection ended with an error");
        }
    });
    target.pool.track(task.abort_handle());
    Ok(sender)
}
