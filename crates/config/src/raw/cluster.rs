//! `[cluster]` as written: how this node reaches etcd and what it is called there.

use serde::{Deserialize, Serialize};

/// `[cluster]`: several Ballast nodes sharing their configuration through etcd. Absent:
/// this node runs alone.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// etcd client URLs (`http://` or `https://`), tried in order.
    pub etcd: Option<Vec<String>>,
    /// The key prefix under which this cluster's keys live.
    pub prefix: Option<String>,
    /// This node's name among the cluster's nodes.
    pub node_name: Option<String>,
    /// The address clients reach this node on (answered by DNS aliases to the cluster).
    pub advertise: Option<String>,
    /// etcd user (with `password`).
    pub username: Option<String>,
    /// etcd password (with `username`).
    pub password: Option<String>,
    /// PEM file of the certificate authority that signed etcd's certificate.
    pub ca: Option<String>,
    /// PEM file of this node's client certificate for etcd (with `key`).
    pub cert: Option<String>,
    /// PEM file of that certificate's private key.
    pub key: Option<String>,
    /// Time-to-live of this node's membership lease.
    pub lease_ttl: Option<String>,
    /// Time one etcd request may take.
    pub timeout: Option<String>,
}
