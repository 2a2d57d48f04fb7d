//! Node membership: each node holds a key under `PREFIX/nodes/` attached to a lease it
//! renews every third of its time-to-live (each renewal bounded by that third, so one slow
//! endpoint cannot let the lease run out), so a node that dies leaves the list within the
//! TTL; each node reads that list as often, for the admin API and the dashboard, and checks
//! that its watch of the shared document has not missed a change.
//!
//! The same lease elects the scaling leader: the node whose lease holds the key
//! `PREFIX/scaling/leader` runs the scaling groups. When it dies its lease ends and the key
//! with it, and the next node to renew takes it; a node that could not renew for a whole
//! TTL stops running the groups, since another may have taken them.

use std::sync::Arc;
use std::time::Duration;

use ballast_runtime::{ClusterNode, NodeTargets, Runtime, TargetSeen};
use tokio_util::sync::CancellationToken;

use crate::etcd::{Etcd, EtcdError, PutIf};
use crate::status::{Board, Task};

/// One node's membership.
#[derive(Debug)]
pub(crate) struct Membership {
    pub(crate) etcd: Arc<Etcd>,
    pub(crate) board: Arc<Board>,
    /// The prefix of the membership keys (`PREFIX/nodes/`).
    pub(crate) prefix: Vec<u8>,
    /// The key of the shared document, whose revision is checked at every renewal.
    pub(crate) config_key: Vec<u8>,
    /// The scaling leader's key.
    pub(crate) leader_key: Vec<u8>,
    /// The prefix of the nodes' published target health (`PREFIX/health/`).
    pub(crate) health_prefix: Vec<u8>,
    pub(crate) runtime: Arc<Runtime>,
    /// What this node's key holds.
    pub(crate) me: ClusterNode,
    pub(crate) ttl: Duration,
}

/// Why a round of membership work failed.
#[derive(Debug, thiserror::Error)]
enum MemberError {
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error("etcd did not answer within {0:?} (a third of lease_ttl)")]
    Late(Duration),
    #[error("another live node is named \"{0}\": this node stays out of the member list until it leaves (give each node its own node_name)")]
    Duplicate(String),
}

impl Membership {
    /// Holds the membership until `stop`, then gives the lease back so the node leaves the
    /// list at once. A lease lost while etcd was out of reach is taken again.
    pub(crate) async fn run(self, stop: CancellationToken) {
        let third = self.ttl / 3;
        let mut ticks = tokio::time::interval(third);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lease = None;
        let mut published = Vec::new();
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
                () = self.board.vacant.notified() => {}
            }
            let round = tokio::time::timeout(third, self.round(lease, &mut published)).await;
            match round.unwrap_or(Err(MemberError::Late(third))) {
                Ok(held) => {
                    lease = held;
                    renewed = tokio::time::Instant::now();
                    self.board.reached(Task::Members, self.etcd.endpoint());
                }
                Err(e) => {
                    self.board.lost(Task::Members, &e);
                    if renewed.elapsed() >= self.ttl {
                        // The lease may have ended: another node may run the groups now.
                        self.board.leader(None, false);
                    }
                }
            }
        }
        self.board.leader(None, false);
        if let Some(id) = lease {
            // Best effort, bounded: if etcd does not answer, the lease ends by itself.
            let _ = tokio::time::timeout(third, self.etcd.revoke(id)).await;
        }
    }

    /// Renews the lease (or takes one), then reads the member list and the document's
    /// revision; the lease held.
    async fn round(
        &self,
        lease: Option<i64>,
        published: &mut Vec<u8>,
    ) -> Result<Option<i64>, MemberError> {
        let held = match lease {
            Some(id) if self.etcd.keep_alive(id).await?.is_some() => id,
            Some(_) => {
                tracing::warn!(node = %self.me.name, "cluster: membership lease expired; joining again");
                published.clear();
                self.join().await?
            }
            None => self.join().await?,
        };
        self.publish_health(held, published).await?;
        let (keys, _) = self.etcd.get_prefix(&self.prefix).await?;
        let nodes = keys
            .iter()
            .filter_map(|kv| serde_json::from_slice::<ClusterNode>(&kv.value).ok())
            .collect();
        self.board.nodes(nodes);
        if let (Some(kv), _) = self.etcd.get(&self.config_key).await? {
            self.board.stored_at(kv.mod_revision);
        }
        let name = self.me.name.as_bytes();
        let (holder, leading) = match self
            .etcd
            .put_if_leased(&self.leader_key, name, 0, Some(held))
            .await?
        {
            PutIf::Written(_) => (Some(self.me.name.clone()), true),
            PutIf::Conflict(Some(kv)) => (
                Some(String::from_utf8_lossy(&kv.value).into_owned()),
                kv.lease == held,
            ),
            PutIf::Conflict(None) => (None, false),
        };
        self.board.leader(holder, leading);
        Ok(Some(held))
    }

    /// Writes this node's view of its targets (with its lease) when it changed, then reads
    /// every node's.
    async fn publish_health(&self, lease: i64, published: &mut Vec<u8>) -> Result<(), EtcdError> {
        let mut targets: Vec<TargetSeen> = self
            .runtime
            .target_health()
            .into_iter()
            .map(|t| TargetSeen {
                group: t.group.to_string(),
                address: t.address.to_string(),
                state: t.state.to_string(),
                ejected: t.ejected,
            })
            .collect();
        targets.sort();
        let mine = NodeTargets {
            node: self.me.name.clone(),
            targets,
        };
        let value = serde_json::to_vec(&mine).unwrap_or_default();
        if value != *published {
            let mut key = self.health_prefix.clone();
            key.extend_from_slice(self.me.name.as_bytes());
            self.etcd.put(&key, &value, Some(lease)).await?;
            *published = value;
        }
        let (keys, _) = self.etcd.get_prefix(&self.health_prefix).await?;
        let mut all: Vec<NodeTargets> = keys
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect();
        all.sort_by(|a, b| a.node.cmp(&b.node));
        self.board.health(all);
        Ok(())
    }

    /// Takes a lease and writes this node's key with it, unless a live node holds that name.
    async fn join(&self) -> Result<i64, MemberError> {
        let id = self.etcd.grant(self.ttl).await?;
        let mut key = self.prefix.clone();
        key.extend_from_slice(self.me.name.as_bytes());
        let value = serde_json::to_vec(&self.me).unwrap_or_default();
        match self.etcd.put_if_leased(&key, &value, 0, Some(id)).await? {
            PutIf::Written(_) => {
                tracing::info!(node = %self.me.name, lease = id, "cluster: joined");
                Ok(id)
            }
            PutIf::Conflict(_) => {
                let _ = self.etcd.revoke(id).await;
                Err(MemberError::Duplicate(self.me.name.clone()))
            }
        }
    }
}
