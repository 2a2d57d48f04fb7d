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

/// What a node holds in etcd for its membership.
#[derive(Debug, Default)]
struct Held {
    /// Its lease, once granted.
    lease: Option<i64>,
    /// Whether its member key is written (with that lease).
    joined: bool,
    /// Its target-health view as last written (with that lease).
    published: Vec<u8>,
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
    ///
    /// The scaling groups run here only while the lease surely lives: until two thirds of
    /// its time-to-live after the last renewal that was sent (and answered), so that the old
    /// leader has stopped before etcd can end its lease and another node take the key.
    pub(crate) async fn run(self, stop: CancellationToken) {
        let third = self.ttl / 3;
        let mut ticks = tokio::time::interval(third);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut held = Held::default();
        let mut renewed: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
                () = self.board.vacant.notified() => {}
            }
            let sent = tokio::time::Instant::now();
            let round = tokio::time::timeout(third, self.round(&mut held)).await;
            match round.unwrap_or(Err(MemberError::Late(third))) {
                Ok(observed) => {
                    renewed = Some(sent);
                    self.board.reached(Task::Members, self.etcd.endpoint());
                    if let Err(e) = observed {
                        // The lease holds; only the list or the health view is stale.
                        self.board.lost(Task::Members, &e);
                    }
                }
                Err(e) => self.board.lost(Task::Members, &e),
            }
            if renewed.is_none_or(|at| at.elapsed() >= self.ttl * 2 / 3) {
                self.board.leader(None, false);
            }
        }
        self.board.leader(None, false);
        if let Some(id) = held.lease {
            // Best effort, bounded: if etcd does not answer, the lease ends by itself.
            let _ = tokio::time::timeout(third, self.etcd.revoke(id)).await;
        }
    }

    /// Renews the lease (or takes one, kept at once), writes this node's key if it is not
    /// written yet, and tries for the scaling key; then reads the member list, the targets'
    /// health and the document's revision, whose failure (the inner result) leaves the lease
    /// and the leadership standing.
    async fn round(&self, state: &mut Held) -> Result<Result<(), EtcdError>, MemberError> {
        let held = match state.lease {
            Some(id) if self.etcd.keep_alive(id).await?.is_some() => id,
            expired => {
                if expired.is_some() {
                    tracing::warn!(node = %self.me.name, "cluster: membership lease expired; joining again");
                }
                *state = Held::default();
                let id = self.etcd.grant(self.ttl).await?;
                state.lease = Some(id);
                id
            }
        };
        if !state.joined {
            self.join(held).await?;
            state.joined = true;
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
        Ok(self.observe(held, &mut state.published).await)
    }

    /// Reads the member list and the document's revision, and publishes this node's view of
    /// the targets.
    async fn observe(&self, held: i64, published: &mut Vec<u8>) -> Result<(), EtcdError> {
        let (keys, _) = self.etcd.get_prefix(&self.prefix).await?;
        let nodes = keys
            .iter()
            .filter_map(|kv| serde_json::from_slice::<ClusterNode>(&kv.value).ok())
            .collect();
        self.board.nodes(nodes);
        if let (Some(kv), _) = self.etcd.get(&self.config_key).await? {
            self.board.stored_at(kv.mod_revision);
        }
        self.publish_health(held, published).await
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

    /// Writes this node's key with lease `id`, unless a live node holds that name (a key
    /// of this node's own lease is this node's).
    async fn join(&self, id: i64) -> Result<(), MemberError> {
        let mut key = self.prefix.clone();
        key.extend_from_slice(self.me.name.as_bytes());
        let value = serde_json::to_vec(&self.me).unwrap_or_default();
        match self.etcd.put_if_leased(&key, &value, 0, Some(id)).await? {
            PutIf::Written(_) => {
                tracing::info!(node = %self.me.name, lease = id, "cluster: joined");
                Ok(())
            }
            PutIf::Conflict(Some(kv)) if kv.lease == id => Ok(()),
            PutIf::Conflict(_) => Err(MemberError::Duplicate(self.me.name.clone())),
        }
    }
}
