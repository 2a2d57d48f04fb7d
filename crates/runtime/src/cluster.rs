//! What the runtime knows of the cluster this node belongs to: where configuration changes
//! go before they apply (a [`SharedDocument`], set by `ballast-cluster`), and the status the
//! admin API, metrics and dashboard show. The runtime itself never talks to etcd.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ballast_config::{Document, DocumentDiff};

use crate::{ApplyError, RuntimeError};

/// A future a [`SharedDocument`] returns.
pub type Publishing<'a> =
    Pin<Box<dyn Future<Output = Result<DocumentDiff, ApplyError>> + Send + 'a>>;

/// A future a [`SharedDocument`]'s registration returns.
pub type Registering<'a> = Pin<Box<dyn Future<Output = Result<(), RegistrationError>> + Send + 'a>>;

/// Why a registration made through the cluster did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The group or target does not exist here.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The store is out of reach: nothing changed.
    #[error("the cluster's configuration store cannot be reached: {0}")]
    Unavailable(String),
    /// The target is written in the shared document, not registered: only a change of the
    /// document removes it from every node.
    #[error("{address} is written in the shared configuration of target group \"{group}\", not registered: change the group (PUT /api/v1/target-groups/{group}) so that every node drains it")]
    InDocument {
        /// The group.
        group: String,
        /// The target.
        address: SocketAddr,
    },
}

/// Where this node's configuration changes go when it shares its document with other nodes.
pub trait SharedDocument: Send + Sync + std::fmt::Debug {
    /// Writes the shared part of `document` (this node's whole document) unless the shared
    /// document changed since revision `expected` (`None`: since the revision this node
    /// runs), or this node's document since its `version` (when the change was made from
    /// it), then applies `document` here; what it changed. A changed document is
    /// [`ApplyError::SharedConflict`] (or [`ApplyError::Conflict`]); a store out of reach,
    /// [`ApplyError::SharedUnavailable`].
    fn publish(
        &self,
        document: Document,
        expected: Option<i64>,
        version: Option<u64>,
    ) -> Publishing<'_>;

    /// Registers `address` in `group` (in `zone`, for a scaling group's instance) on every
    /// node (here at once, elsewhere through their watch).
    fn register(&self, group: String, address: SocketAddr, zone: Option<String>)
        -> Registering<'_>;

    /// Deregisters it on every node: each drains it for the group's deregistration delay.
    fn deregister(&self, group: String, address: SocketAddr) -> Registering<'_>;
}

/// The cluster as this node sees it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ClusterStatus {
    /// This node's name.
    pub node: String,
    /// Whether the last request to etcd succeeded.
    pub etcd_connected: bool,
    /// The etcd endpoint last used.
    pub etcd_endpoint: String,
    /// The last error talking to etcd, while not connected.
    pub last_error: Option<String>,
    /// The etcd revision of the shared document this node runs (0: none yet).
    pub config_revision: i64,
    /// Whether this node has applied the cluster's document since it started.
    pub synced: bool,
    /// The node that runs the scaling groups (holds the scaling lease), when one does.
    pub scaling_leader: Option<String>,
    /// Each live node's view of the targets (every node checks them itself).
    pub health: Vec<NodeTargets>,
    /// The live nodes, by name (each holds its membership lease).
    pub nodes: Vec<ClusterNode>,
}

/// One live node of the cluster, as its membership key describes it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClusterNode {
    /// Its name.
    pub name: String,
    /// Its admin API address, when it has one.
    #[serde(default)]
    pub admin: Option<String>,
    /// Its listeners' addresses, by name.
    #[serde(default)]
    pub listeners: Vec<(String, String)>,
    /// When it joined (Unix seconds).
    #[serde(default)]
    pub joined: u64,
    /// The address clients reach it on (`cluster.advertise`), when it gives one.
    #[serde(default)]
    pub address: Option<std::net::IpAddr>,
}

/// One node's view of its targets, as it publishes it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NodeTargets {
    /// The node.
    pub node: String,
    /// Its targets, by group and address.
    pub targets: Vec<TargetSeen>,
}

/// A target as one node sees it.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct TargetSeen {
    /// Its group.
    pub group: String,
    /// Its address.
    pub address: String,
    /// Its state there (`healthy`, `unhealthy`, `initial`, `draining`, `unused`).
    pub state: String,
    /// Whether that node's passive health check has it ejected.
    #[serde(default)]
    pub ejected: bool,
}

/// The cluster parts of a [`crate::Runtime`].
#[derive(Debug, Default)]
pub(crate) struct ClusterBoard {
    shared: Mutex<Option<Arc<dyn SharedDocument>>>,
    status: Mutex<Option<ClusterStatus>>,
    /// Another node runs the scaling groups (never when this node runs alone).
    follower: AtomicBool,
    /// Wakes the scaling loop when this node becomes the leader.
    leadership: tokio::sync::Notify,
    /// The scaling instances' registrations to share, carried out in order by one task.
    instance_ops: Mutex<Option<tokio::sync::mpsc::UnboundedSender<InstanceOp>>>,
}

/// A scaling instance's registration, shared with the other nodes.
#[derive(Debug)]
enum InstanceOp {
    Register(String, SocketAddr, Option<String>),
    Deregister(String, SocketAddr),
}

/// Carries out `ops` in order, each until the store takes it (a registration etcd did not
/// get while it was away must not be lost, nor pass a later deregistration).
async fn share_in_order(
    shared: Arc<dyn SharedDocument>,
    mut ops: tokio::sync::mpsc::UnboundedReceiver<InstanceOp>,
) {
    while let Some(op) = ops.recv().await {
        let mut warned = false;
        loop {
            let done = match &op {
                InstanceOp::Register(group, address, zone) => {
                    shared.register(group.clone(), *address, zone.clone()).await
                }
                InstanceOp::Deregister(group, address) => {
                    shared.deregister(group.clone(), *address).await
                }
            };
            match done {
                Ok(()) => break,
                Err(error @ RegistrationError::Unavailable(_)) => {
                    if !std::mem::replace(&mut warned, true) {
                        tracing::warn!(%error, ?op, "instance registration not shared yet; trying again every second");
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, ?op, "instance registration not shared");
                    break;
                }
            }
        }
    }
}

impl crate::Runtime {
    /// Makes configuration changes go through `shared` (the admin API's changes: they apply
    /// on every node of the cluster).
    pub fn join_cluster(&self, shared: Arc<dyn SharedDocument>) {
        *lock(&self.cluster.shared) = Some(shared);
    }

    /// Where configuration changes go before they apply, when this node is in a cluster.
    pub fn shared_document(&self) -> Option<Arc<dyn SharedDocument>> {
        lock(&self.cluster.shared).clone()
    }

    /// Records what this node sees of its cluster.
    pub fn set_cluster_status(&self, status: ClusterStatus) {
        *lock(&self.cluster.status) = Some(status);
    }

    /// What this node sees of its cluster; `None` when it runs alone.
    pub fn cluster_status(&self) -> Option<ClusterStatus> {
        lock(&self.cluster.status).clone()
    }

    /// Whether this node runs the scaling groups: always when it runs alone; in a cluster,
    /// only while it holds the scaling lease, so that one node launches and terminates.
    pub fn set_scaling_leader(&self, leader: bool) {
        let was = !self.cluster.follower.swap(!leader, Ordering::SeqCst);
        if leader && !was {
            tracing::info!("this node now runs the scaling groups");
            self.cluster.leadership.notify_one();
        } else if was && !leader {
            tracing::info!("this node does not run the scaling groups: another node of the cluster holds the scaling lease, or none yet (instances keep serving)");
        }
    }

    /// The addresses the cluster's live nodes advertise: DNS aliases to the cluster answer
    /// with them (the zones are rebuilt when they change).
    pub fn set_cluster_addresses(&self, mut addresses: Vec<std::net::IpAddr>) {
        addresses.sort();
        addresses.dedup();
        let mut state = self.control.lock();
        if state.cluster_addresses != addresses {
            state.cluster_addresses = addresses;
            self.control.publish(&mut state);
        }
    }

    /// See [`crate::Runtime::set_scaling_leader`].
    pub fn is_scaling_leader(&self) -> bool {
        !self.cluster.follower.load(Ordering::SeqCst)
    }

    /// Waits until this node becomes the scaling leader (again).
    pub(crate) async fn leadership(&self) {
        self.cluster.leadership.notified().await;
    }

    /// Registers a scaling group's instance here and, in a cluster, on every node (its
    /// registration here decides the result).
    pub(crate) fn register_instance(
        &self,
        group: &str,
        address: SocketAddr,
        zone: Option<&str>,
    ) -> Result<(), RuntimeError> {
        self.register_target_in_zone(group, address, zone)?;
        let (group, zone) = (group.to_owned(), zone.map(str::to_owned));
        self.share_instance(InstanceOp::Register(group, address, zone));
        Ok(())
    }

    /// Deregisters a scaling group's instance here and, in a cluster, on every node.
    pub(crate) fn deregister_instance(&self, group: &str, address: SocketAddr) {
        let _ = self.deregister_target(group, address);
        self.share_instance(InstanceOp::Deregister(group.to_owned(), address));
    }

    /// Queues `op` for the other nodes, in a cluster.
    fn share_instance(&self, op: InstanceOp) {
        let mut ops = lock(&self.cluster.instance_ops);
        if ops.is_none() {
            let Some(shared) = self.shared_document() else {
                return;
            };
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            self.control.runtime.spawn(share_in_order(shared, rx));
            *ops = Some(tx);
        }
        if let Some(ops) = ops.as_ref() {
            let _ = ops.send(op);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
