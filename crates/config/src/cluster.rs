//! The validated `[cluster]` section.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// How this node joins a cluster of Ballast nodes through etcd (`[cluster]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// etcd client URLs, tried in order.
    pub etcd: Vec<String>,
    /// The key prefix of this cluster, ending in `/`.
    pub prefix: String,
    /// This node's name, unique in the cluster.
    pub node_name: String,
    /// The address clients reach this node on, when it gives one.
    pub advertise: Option<std::net::IpAddr>,
    /// etcd user and password, when etcd has authentication on.
    pub credentials: Option<(String, Secret)>,
    /// The certificate authority of etcd's certificate (required for `https://` URLs).
    pub ca: Option<PathBuf>,
    /// A client certificate and its key, when etcd asks for one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Time-to-live of the node's membership lease: a node that stops renewing it leaves
    /// the member list this long after.
    pub lease_ttl: Duration,
    /// Time one etcd request may take.
    pub timeout: Duration,
}

impl ClusterConfig {
    /// The key of the shared configuration document.
    pub fn config_key(&self) -> String {
        format!("{}config", self.prefix)
    }

    /// The prefix of the node membership keys.
    pub fn nodes_prefix(&self) -> String {
        format!("{}nodes/", self.prefix)
    }
}
