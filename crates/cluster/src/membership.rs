//! Node membership: each node holds a key under `PREFIX/nodes/` attached to a lease it
//! renews every third of its time-to-live, so a node that dies leaves the list within the
//! TTL; and each node reads that list as often, for the admin API and the dashboard.

use std::sync::Arc;
use std::time::Duration;

use ballast_runtime::ClusterNode;
use tokio_util::sync::CancellationToken;

use crate::etcd::{Etcd, EtcdError};
use crate::status::Board;

/// One node's membership.
#[derive(Debug)]
pub(crate) struct Membership {
    pub(crate) etcd: Arc<Etcd>,
    pub(crate) board: Arc<Board>,
    /// The prefix of the membership keys (`PREFIX/nodes/`).
    pub(crate) prefix: Vec<u8>,
    /// What this node's key holds.
    pub(crate) me: ClusterNode,
    pub(crate) ttl: Duration,
}

impl Membership {
    /// Holds the membership until `stop`, then gives the lease back so the node leaves the
    /// list at once. A lease lost while etcd was out of reach is taken again.
    pub(crate) async fn run(self, stop: CancellationToken) {
        let renew = self.ttl / 3;
        let mut lease = None;
        loop {
            let held = match lease {
                Some(id) => self.renew(id).await,
                None => self.join().await.map(Some),
            };
            match held {
                Ok(held) => {
                    lease = held;
                    self.board.reached(self.etcd.endpoint());
                    if let Err(e) = self.list().await {
                        self.board.lost(&e);
                    }
                }
                Err(e) => {
                    self.board.lost(&e);
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(renew) => {}
            }
        }
        if let Some(id) = lease {
            // Best effort: if etcd does not answer, the lease ends by itself.
            let _ = self.etcd.revoke(id).await;
        }
    }

    /// Takes a lease and writes this node's key with it.
    async fn join(&self) -> Result<i64, EtcdError> {
        let id = self.etcd.grant(self.ttl).await?;
        let mut key = self.prefix.clone();
        key.extend_from_slice(self.me.name.as_bytes());
        let value = serde_json::to_vec(&self.me).unwrap_or_default();
        self.etcd.put(&key, &value, Some(id)).await?;
        tracing::info!(node = %self.me.name, lease = id, "cluster: joined");
        Ok(id)
    }

    /// Renews the lease; `None` when it had expired (the key went with it).
    async fn renew(&self, id: i64) -> Result<Option<i64>, EtcdError> {
        Ok(match self.etcd.keep_alive(id).await? {
            Some(_) => Some(id),
            None => {
                tracing::warn!(node = %self.me.name, "cluster: membership lease expired; joining again");
                Some(self.join().await?)
            }
        })
    }

    /// Reads the live nodes.
    async fn list(&self) -> Result<(), EtcdError> {
        let (keys, _) = self.etcd.get_prefix(&self.prefix).await?;
        let nodes = keys
            .iter()
            .filter_map(|kv| serde_json::from_slice::<ClusterNode>(&kv.value).ok())
            .collect();
        self.board.nodes(nodes);
        Ok(())
    }
}
