//! What this node sees of its cluster, written by the config and membership tasks and
//! published to the runtime (admin API, `/readyz`, metrics, dashboard) on every change.

use std::sync::{Arc, Mutex, PoisonError};

use ballast_runtime::{ClusterNode, ClusterStatus, Runtime};

/// The status, shared by the tasks of one node.
#[derive(Debug)]
pub(crate) struct Board {
    status: Mutex<ClusterStatus>,
    runtime: Arc<Runtime>,
}

impl Board {
    pub(crate) fn new(runtime: Arc<Runtime>, node: &str) -> Self {
        let status = ClusterStatus {
            node: node.to_owned(),
            ..ClusterStatus::default()
        };
        runtime.set_cluster_status(status.clone());
        Self {
            status: Mutex::new(status),
            runtime,
        }
    }

    fn update(&self, change: impl FnOnce(&mut ClusterStatus)) {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        let before = status.clone();
        change(&mut status);
        if *status != before {
            self.runtime.set_cluster_status(status.clone());
        }
    }

    /// etcd answered (through `endpoint`).
    pub(crate) fn reached(&self, endpoint: String) {
        self.update(|s| {
            if !s.etcd_connected {
                tracing::info!(endpoint = %endpoint, "cluster: etcd reached");
            }
            s.etcd_connected = true;
            s.etcd_endpoint = endpoint;
            s.last_error = None;
        });
    }

    /// etcd did not answer.
    pub(crate) fn lost(&self, error: &dyn std::fmt::Display) {
        let error = error.to_string();
        self.update(|s| {
            if s.etcd_connected || s.last_error.is_none() {
                tracing::warn!(error = %error, "cluster: etcd out of reach; serving the last good configuration");
            }
            s.etcd_connected = false;
            s.last_error = Some(error);
        });
    }

    /// This node now runs the shared document of `revision`.
    pub(crate) fn applied(&self, revision: i64) {
        self.update(|s| {
            s.config_revision = revision;
            s.synced = true;
        });
    }

    /// The revision of the shared document this node runs.
    pub(crate) fn revision(&self) -> i64 {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .config_revision
    }

    /// The live nodes, as the membership keys list them.
    pub(crate) fn nodes(&self, mut nodes: Vec<ClusterNode>) {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        self.update(|s| s.nodes = nodes);
    }
}
