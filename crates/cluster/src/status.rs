//! What this node sees of its cluster, written by the config, registration and membership
//! tasks and published to the runtime (admin API, `/readyz`, metrics, dashboard) on every
//! change. Each task reports its own link to etcd, so that one task's success never hides
//! another's failure.

use std::sync::{Arc, Mutex, PoisonError};

use ballast_runtime::{ClusterNode, ClusterStatus, Runtime};

/// Which task talked to etcd.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Task {
    Config = 0,
    Targets = 1,
    Members = 2,
}

/// The status, shared by the tasks of one node.
#[derive(Debug)]
pub(crate) struct Board {
    inner: Mutex<Inner>,
    runtime: Arc<Runtime>,
    /// Wakes the config task to read the document again (its watch seems to have missed a
    /// change).
    pub(crate) resync: tokio::sync::Notify,
    /// Wakes the membership task when the scaling leader's key is gone.
    pub(crate) vacant: tokio::sync::Notify,
}

#[derive(Debug)]
struct Inner {
    status: ClusterStatus,
    /// Each task's last error with etcd, while it lasts.
    errors: [Option<String>; 3],
    /// Times in a row the stored document was seen ahead of the revision this node runs.
    behind: u32,
}

impl Board {
    pub(crate) fn new(runtime: Arc<Runtime>, node: &str) -> Self {
        let status = ClusterStatus {
            node: node.to_owned(),
            ..ClusterStatus::default()
        };
        runtime.set_cluster_status(status.clone());
        Self {
            inner: Mutex::new(Inner {
                status,
                errors: Default::default(),
                behind: 0,
            }),
            runtime,
            resync: tokio::sync::Notify::new(),
            vacant: tokio::sync::Notify::new(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Inner)) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let before = inner.status.clone();
        change(&mut inner);
        let first_error = inner.errors.iter().flatten().next().cloned();
        inner.status.etcd_connected = first_error.is_none();
        inner.status.last_error = first_error;
        if inner.status != before {
            self.runtime.set_cluster_status(inner.status.clone());
        }
    }

    /// `task` reached etcd (through `endpoint`).
    pub(crate) fn reached(&self, task: Task, endpoint: String) {
        self.update(|i| {
            if i.errors[task as usize].take().is_some() {
                tracing::info!(endpoint = %endpoint, task = ?task, "cluster: etcd reached again");
            }
            i.status.etcd_endpoint = endpoint;
        });
    }

    /// `task` could not do its work with etcd.
    pub(crate) fn lost(&self, task: Task, error: &dyn std::fmt::Display) {
        let error = error.to_string();
        self.update(|i| {
            if i.errors[task as usize].is_none() {
                tracing::warn!(error = %error, task = ?task, "cluster: etcd request failed; serving the last good configuration");
            }
            i.errors[task as usize] = Some(error);
        });
    }

    /// This node now runs the shared document of `revision`.
    pub(crate) fn applied(&self, revision: i64) {
        self.update(|i| {
            i.status.config_revision = revision;
            i.status.synced = true;
            i.behind = 0;
        });
    }

    /// The revision of the shared document this node runs.
    pub(crate) fn revision(&self) -> i64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .status
            .config_revision
    }

    /// The stored document is at `stored`: when it stays ahead of what this node runs for
    /// two checks in a row, the config task reads it again (a watch cut without a word).
    pub(crate) fn stored_at(&self, stored: i64) {
        let mut resync = false;
        self.update(|i| {
            if stored > i.status.config_revision {
                i.behind += 1;
                resync = i.behind >= 2;
            } else {
                i.behind = 0;
            }
        });
        if resync {
            tracing::warn!(stored, "cluster: the shared configuration moved on without this node's watch seeing it; reading it again");
            self.resync.notify_one();
        }
    }

    /// `holder` runs the scaling groups (`me`: this node does).
    pub(crate) fn leader(&self, holder: Option<String>, me: bool) {
        self.update(|i| i.status.scaling_leader = holder);
        self.runtime.set_scaling_leader(me);
    }

    /// Every live node's view of the targets.
    pub(crate) fn health(&self, health: Vec<ballast_runtime::NodeTargets>) {
        self.update(|i| i.status.health = health);
    }

    /// The live nodes, as the membership keys list them.
    pub(crate) fn nodes(&self, mut nodes: Vec<ClusterNode>) {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let addresses = nodes.iter().filter_map(|n| n.address).collect();
        self.update(|i| i.status.nodes = nodes);
        self.runtime.set_cluster_addresses(addresses);
    }
}
