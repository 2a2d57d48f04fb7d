//! Several Ballast nodes, active-active, coordinated through etcd (its v3 API): the shared
//! configuration document, kept in one key and applied by every node through the runtime's
//! reload path as soon as a watch sees it change (`sync`); the targets registered through
//! the admin API, a key each (`registrations`); and node membership, a key per node held by
//! a lease (`membership`).
//!
//! Control plane: it drives the runtime through its handle and never touches a socket of
//! the data plane. Its tasks run on a thread of their own, so a slow etcd never holds the
//! control thread or the admin API.

mod document;
pub mod etcd;
mod follow;
mod leader;
mod membership;
mod push;
mod registrations;
mod status;
mod sync;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ballast_config::{ClusterConfig, Document};
use ballast_runtime::{ClusterNode, Publishing, Registering, Runtime, SharedDocument};
use tokio_util::sync::CancellationToken;

pub use document::{compose, decode, encode, shared_part, DecodeError};
pub use push::{pull, push, PushError, Pushed};

use etcd::{Etcd, EtcdError, EtcdOptions};
use membership::Membership;
use registrations::Registrations;
use status::Board;
use sync::ConfigSync;

/// A mutex's guard, even after a panic elsewhere held it: the cluster's state stays usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a node could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The `[cluster]` settings do not make an etcd client (TLS files, endpoints).
    #[error("cluster: {0}")]
    Etcd(#[from] EtcdError),
    /// The thread of the cluster's tasks could not start.
    #[error("cluster: cannot start its thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A node's membership in its cluster, running until [`Cluster::stop`].
#[derive(Debug)]
pub struct Cluster {
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The etcd client `config` describes.
pub fn client(config: &ClusterConfig) -> Result<Etcd, EtcdError> {
    let (username, password) = match &config.credentials {
        Some((user, password)) => (Some(user.clone()), Some(password.expose().to_owned())),
        None => (None, None),
    };
    let (cert, key) = match &config.client_cert {
        Some((cert, key)) => (Some(cert.clone()), Some(key.clone())),
        None => (None, None),
    };
    Etcd::new(EtcdOptions {
        endpoints: config.etcd.clone(),
        username,
        password,
        ca: config.ca.clone(),
        cert,
        key,
        timeout: config.timeout,
    })
}

impl Cluster {
    /// Joins the cluster `config` names: from now on the runtime's configuration follows
    /// the shared document in etcd (with `local`'s own tables), the admin API's changes go
    /// there first, and the node holds its membership key describing `me`. Returns at once;
    /// etcd is reached (and reached again) in the background.
    pub fn start(
        config: &ClusterConfig,
        runtime: Arc<Runtime>,
        local: Document,
        me: ClusterNode,
    ) -> Result<Cluster, ClusterError> {
        let etcd = Arc::new(client(config)?);
        let board = Arc::new(Board::new(Arc::clone(&runtime), &config.node_name));
        let sync = Arc::new(ConfigSync {
            etcd: Arc::clone(&etcd),
            runtime: Arc::clone(&runtime),
            board: Arc::clone(&board),
            local,
            key: config.config_key().into_bytes(),
            applying: tokio::sync::Mutex::new(()),
            attempted: Mutex::new(0),
            shared_secret: Mutex::new(None),
        });
        let registrations = Arc::new(Registrations {
            etcd: Arc::clone(&etcd),
            runtime: Arc::clone(&runtime),
            board: Arc::clone(&board),
            prefix: format!("{}targets/", config.prefix).into_bytes(),
            known: Mutex::default(),
            pending: Mutex::default(),
        });
        runtime.join_cluster(Arc::new(Shared {
            sync: Arc::clone(&sync),
            registrations: Arc::clone(&registrations),
        }));
        let stop = CancellationToken::new();
        let leader_key = format!("{}scaling/leader", config.prefix).into_bytes();
        let vacancy = leader::watch_vacancy(
            Arc::clone(&etcd),
            Arc::clone(&board),
            (leader_key.clone(), false),
            stop.clone(),
        );
        let departures = leader::watch_vacancy(
            Arc::clone(&etcd),
            Arc::clone(&board),
            (config.nodes_prefix().into_bytes(), true),
            stop.clone(),
        );
        let membership = Membership {
            etcd,
            board,
            prefix: config.nodes_prefix().into_bytes(),
            config_key: config.config_key().into_bytes(),
            leader_key,
            health_prefix: format!("{}health/", config.prefix).into_bytes(),
            runtime: Arc::clone(&runtime),
            me,
            ttl: config.lease_ttl,
        };
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ClusterError::Thread)?;
        let token = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ballast-cluster".into())
            .spawn(move || {
                tokio.block_on(async move {
                    let config = tokio::spawn(sync.run(token.clone()));
                    let targets = tokio::spawn(registrations.run(token.clone()));
                    let vacancy = tokio::spawn(vacancy);
                    let departures = tokio::spawn(departures);
                    membership.run(token).await;
                    let _ = config.await;
                    let _ = targets.await;
                    let _ = vacancy.await;
                    let _ = departures.await;
                });
            })
            .map_err(ClusterError::Thread)?;
        Ok(Cluster {
            stop,
            thread: Some(thread),
        })
    }

    /// Leaves the cluster: the watch ends and the membership lease is given back, so the
    /// other nodes stop listing this one at once.
    pub fn stop(mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the runtime hands its changes to: the shared document and the shared registrations.
#[derive(Debug)]
struct Shared {
    sync: Arc<ConfigSync>,
    registrations: Arc<Registrations>,
}

impl SharedDocument for Shared {
    fn publish(
        &self,
        document: Document,
        expected: Option<i64>,
        version: Option<u64>,
    ) -> Publishing<'_> {
        Box::pin(self.sync.write(document, expected, version))
    }

    fn register(
        &self,
        group: String,
        address: SocketAddr,
        zone: Option<String>,
    ) -> Registering<'_> {
        Box::pin(self.registrations.register(group, address, zone))
    }

    fn deregister(&self, group: String, address: SocketAddr) -> Registering<'_> {
        Box::pin(self.registrations.deregister(group, address))
    }
}
