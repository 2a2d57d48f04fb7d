//! Data-plane worker threads: each runs its own single-threaded tokio runtime serving its
//! share of every listener, so a request lives on one thread from accept to response.
//!
//! Listeners come and go while workers run: the control side sends each worker its socket
//! of a new listener, and cancels a removed listener's token, which stops its accept loops
//! and gracefully closes its connections (in-flight requests finish). Other listeners and
//! their connections are untouched.

use std::sync::Arc;
use std::time::Duration;

use ballast_config::ListenerName;
use ballast_http::{
    serve_listener, BufferPool, FdBudget, ListenerConnections, ListenerTask, SharedSnapshot,
};
use ballast_l4::snapshot::SharedL4;
use ballast_l4::task::L4Task;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::RuntimeError;

/// How many tasks a worker runs before it asks the kernel for new readiness events while
/// tasks are still waiting to run (tokio's default is 61, HAProxy's `tune.maxpollevents` and
/// `tune.runqueue-depth` are 200). With 1,000 busy connections a turn of 61 polls sends about
/// 30 responses, so the clients and targets, woken for each small batch, go idle between
/// batches, and each wake-up costs the sender kernel time. A turn of 256 made 40% fewer
/// wake-ups and cost 9% less CPU per request (docs/performance.md). With fewer ready tasks
/// than that, turns are shorter anyway. New events wait at most one turn.
const EVENT_INTERVAL: u32 = 256;

/// A listener socket for one worker to serve until `stop` is cancelled.
#[derive(Debug)]
pub(crate) struct Serve {
    pub(crate) name: ListenerName,
    pub(crate) socket: ListenerSocket,
    pub(crate) stop: CancellationToken,
    /// The listener's open connections, one count for all its sockets and workers.
    pub(crate) open: Arc<ListenerConnections>,
}

/// One socket of a listener, and the data plane that serves it.
#[derive(Debug)]
pub(crate) enum ListenerSocket {
    /// An `http` or `https` listener's.
    Http(std::net::TcpListener),
    /// A `tcp`, `tls` or `tcp_udp` listener's TCP socket.
    L4Tcp(std::net::TcpListener),
    /// A `udp` or `tcp_udp` listener's UDP socket.
    Udp(std::net::UdpSocket),
}

/// The running workers: one command queue each.
#[derive(Debug)]
pub(crate) struct Workers {
    queues: Vec<UnboundedSender<Serve>>,
}

impl Workers {
    /// Hands worker `i` socket `i` of a listener. A worker that has exited (shutdown)
    /// drops it, which closes it.
    pub(crate) fn serve(&self, bound: crate::listeners::BoundListener, stop: &CancellationToken) {
        // A listener taken over from a process with more workers has more sockets than
        // there are workers here: every socket must still be served, or the kernel would
        // queue connections on one nobody accepts from.
        let open = ListenerConnections::new();
        let l4 = bound.protocol.is_l4();
        let name = &bound.name;
        // Set either way: sockets handed over by an upgrade keep the old process's setting.
        crate::listeners::set_defer_accept(name, &bound.sockets, bound.defer_accept);
        let tcp = bound.sockets.into_iter().enumerate().map(|(i, s)| {
            let socket = if l4 {
                ListenerSocket::L4Tcp(s)
            } else {
                ListenerSocket::Http(s)
            };
            (i, socket)
        });
        // The TCP and the UDP sockets of a tcp_udp listener each go round the workers.
        let udp = bound
            .udp
            .into_iter()
            .enumerate()
            .map(|(i, s)| (i, ListenerSocket::Udp(s)));
        for (i, socket) in tcp.chain(udp) {
            let queue = &self.queues[i % self.queues.len()];
            let _gone = queue.send(Serve {
                name: name.clone(),
                socket,
                stop: stop.clone(),
                open: Arc::clone(&open),
            });
        }
    }
}

/// Starts `count` worker threads serving nothing yet.
pub(crate) fn spawn(
    count: usize,
    (snapshot, l4): (&SharedSnapshot, &SharedL4),
    shutdown: &CancellationToken,
    drain_timeout: Duration,
    fds: &Arc<FdBudget>,
) -> Result<(Workers, Vec<std::thread::JoinHandle<()>>), RuntimeError> {
    let mut queues = Vec::with_capacity(count);
    let mut threads = Vec::with_capacity(count);
    for worker in 0..count {
        let (queue, commands) = unbounded_channel();
        queues.push(queue);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .event_interval(EVENT_INTERVAL)
            .enable_all()
            .build()
            .map_err(RuntimeError::Worker)?;
        let snapshot = Arc::clone(snapshot);
        let l4 = Arc::clone(l4);
        let shutdown = shutdown.clone();
        let fds = Arc::clone(fds);
        let thread = std::thread::Builder::new()
            .name(format!("ballast-worker-{worker}"))
            .spawn(move || {
                runtime.block_on(run_worker(
                    worker,
                    commands,
                    (snapshot, l4),
                    shutdown,
                    drain_timeout,
                    fds,
                ))
            })
            .map_err(RuntimeError::Worker)?;
        threads.push(thread);
    }
    Ok((Workers { queues }, threads))
}

async fn run_worker(
    worker: usize,
    mut commands: UnboundedReceiver<Serve>,
    (snapshot, l4): (SharedSnapshot, SharedL4),
    shutdown: CancellationToken,
    drain_timeout: Duration,
    fds: Arc<FdBudget>,
) {
    let connections = TaskTracker::new();
    let buffers = BufferPool::new();
    let accept_loops = TaskTracker::new();
    loop {
        let serve = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            serve = commands.recv() => match serve {
                Some(serve) => serve,
                None => {
                    shutdown.cancelled().await;
                    break;
                }
            },
        };
        let Serve {
            name,
            socket,
            stop,
            open,
        } = serve;
        let socket = match socket {
            ListenerSocket::Http(socket) => socket,
            ListenerSocket::L4Tcp(socket) => {
                let tokens = (stop, shutdown.clone());
                let task = l4_task(&name, &l4, worker, tokens, &connections, &fds, open);
                match ballast_l4::lazy_tcp::Acceptor::new(socket) {
                    Ok(listener) => {
                        accept_loops.spawn(ballast_l4::tcp::serve_tcp(listener, task));
                    }
                    Err(error) => {
                        tracing::error!(listener = %name, worker, %error, "cannot register listener socket")
                    }
                }
                continue;
            }
            ListenerSocket::Udp(socket) => {
                let tokens = (stop, shutdown.clone());
                let task = l4_task(&name, &l4, worker, tokens, &connections, &fds, open);
                match tokio::net::UdpSocket::from_std(socket) {
                    Ok(socket) => {
                        accept_loops.spawn(ballast_l4::udp::serve_udp(socket, task));
                    }
                    Err(error) => {
                        tracing::error!(listener = %name, worker, %error, "cannot register listener socket")
                    }
                }
                continue;
            }
        };
        let listener = match ballast_l4::lazy_tcp::Acceptor::new(socket) {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(listener = %name, worker, %error, "cannot register listener socket");
                continue;
            }
        };
        let task = ListenerTask {
            name,
            snapshot: Arc::clone(&snapshot),
            worker,
            shutdown: stop,
            connections: connections.clone(),
            buffers: Arc::clone(&buffers),
            fds: Arc::clone(&fds),
            open,
        };
        accept_loops.spawn(serve_listener(listener, task));
    }
    accept_loops.close();
    accept_loops.wait().await;
    connections.close();
    let open = connections.len();
    if open > 0 {
        tracing::info!(worker, connections = open, timeout = ?drain_timeout, "draining connections");
    }
    if tokio::time::timeout(drain_timeout, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            worker,
            connections = connections.len(),
            "drain timeout elapsed; closing remaining connections"
        );
    }
}

fn l4_task(
    name: &ListenerName,
    snapshot: &SharedL4,
    worker: usize,
    (shutdown, process): (CancellationToken, CancellationToken),
    connections: &TaskTracker,
    fds: &Arc<FdBudget>,
    open: Arc<ListenerConnections>,
) -> L4Task {
    L4Task {
        name: name.clone(),
        snapshot: Arc::clone(snapshot),
        worker,
        shutdown,
        process,
        connections: connections.clone(),
        fds: Arc::clone(fds),
        open,
    }
}
