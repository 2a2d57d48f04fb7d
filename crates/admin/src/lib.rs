//! The admin API and dashboard: JSON REST over a [`Runtime`] handle, Prometheus metrics at
//! `/metrics`, an OpenAPI document, liveness and readiness.
//!
//! Control plane, layer 5: it only talks to the runtime's public methods, never to the data
//! plane. It runs on its own thread and tokio runtime, so a slow admin client never competes
//! with the workers' event loops.

mod api;
mod app;
mod auth;
mod dashboard;
mod extract;
mod reply;
mod router;
mod server;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use ballast_config::AdminConfig;
use ballast_runtime::Runtime;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::server::Limits;

/// Why the admin listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Its address could not be bound.
    #[error("admin.bind: cannot bind {address}: {reason}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The operating system's reason.
        reason: std::io::Error,
    },
    /// Its thread or runtime could not start.
    #[error("cannot start the admin thread: {0}")]
    Thread(std::io::Error),
}

/// The running admin listener.
#[derive(Debug)]
pub struct AdminServer {
    address: SocketAddr,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
    socket: std::net::TcpListener,
}

impl AdminServer {
    /// Binds the admin listener and serves it on a thread of its own.
    pub fn start(config: &AdminConfig, runtime: Arc<Runtime>) -> Result<Self, AdminError> {
        Self::start_on(config, runtime, None)
    }

    /// [`AdminServer::start`] on a socket handed over by a previous process (binary upgrade),
    /// or on a new one when `inherited` is `None`.
    pub fn start_on(
        config: &AdminConfig,
        runtime: Arc<Runtime>,
        inherited: Option<std::net::TcpListener>,
    ) -> Result<Self, AdminError> {
        let bind_error = |reason| AdminError::Bind {
            address: config.bind,
            reason,
        };
        let listener = match inherited {
            Some(listener) => listener,
            None => std::net::TcpListener::bind(config.bind).map_err(bind_error)?,
        };
        listener.set_nonblocking(true).map_err(bind_error)?;
        let copy = listener.try_clone().map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let app = Arc::new(App::new(
            runtime,
            config.token.as_ref().map(|t| t.expose().to_owned()),
        ));
        let limits = Limits {
            request_header_timeout: config.request_header_timeout,
            max_connections: config.max_connections,
        };
        let stop = CancellationToken::new();
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(AdminError::Thread)?;
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("ballast-admin".to_owned())
                .spawn(move || tokio.block_on(serve(listener, app, limits, stop)))
                .map_err(AdminError::Thread)?
        };
        tracing::info!(addr = %address, token = config.token.is_some(), "admin API started");
        Ok(Self {
            address,
            stop,
            thread: Some(thread),
            socket: copy,
        })
    }

    /// A duplicate of the listening socket, to hand to a new process on an upgrade.
    pub fn socket(&self) -> std::io::Result<std::net::TcpListener> {
        self.socket.try_clone()
    }

    /// The address it listens on (the real port when the config said 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops serving and waits for the thread; open event streams are cut.
    pub fn stop(mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the admin thread panicked");
            }
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(
    listener: std::net::TcpListener,
    app: Arc<App>,
    limits: Limits,
    stop: CancellationToken,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot register the admin socket");
            return;
        }
    };
    dashboard::spawn_sampler(Arc::clone(&app), stop.clone());
    server::serve(listener, router::router(app), limits, stop).await;
}
