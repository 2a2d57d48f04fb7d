//! Targets registered through the admin API (and scaling groups' instances), shared: each
//! is a key `PREFIX/targets/GROUP/ADDRESS` holding its zone, that every node watches,
//! registering the target when the key appears and draining it when the key goes. A registration whose group this node does
//! not have yet (its configuration is on its way) is tried again every second.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ballast_runtime::{RegistrationError, Runtime, RuntimeError};
use tokio_util::sync::CancellationToken;

use crate::etcd::{Etcd, EtcdError, Event};
use crate::follow::{keep_following, read_apart};
use crate::lock;
use crate::status::{Board, Task};

/// A target of a group.
type Target = (String, SocketAddr);

/// What a registration's key holds.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Stored {
    /// The zone of a scaling group's instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
}

/// The shared registrations as one node follows them.
#[derive(Debug)]
pub(crate) struct Registrations {
    pub(crate) etcd: Arc<Etcd>,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) board: Arc<Board>,
    /// `PREFIX/targets/`.
    pub(crate) prefix: Vec<u8>,
    /// What the cluster registered on this node (and this node alone may drain again).
    pub(crate) known: Mutex<HashSet<Target>>,
    /// Registrations (with their zone) whose group this node does not have yet.
    pub(crate) pending: Mutex<HashSet<(Target, Option<String>)>>,
}

impl Registrations {
    fn key(&self, (group, address): (&str, SocketAddr)) -> Vec<u8> {
        let mut key = self.prefix.clone();
        key.extend_from_slice(format!("{group}/{address}").as_bytes());
        key
    }

    /// The target a key names (`None`: not one of ours).
    fn target_of(&self, key: &[u8]) -> Option<Target> {
        let rest = std::str::from_utf8(key.strip_prefix(self.prefix.as_slice())?).ok()?;
        let (group, address) = rest.split_once('/')?;
        Some((group.to_owned(), address.parse().ok()?))
    }

    /// Follows the registrations until `stop`: reconcile with what etcd lists, then watch;
    /// when etcd is out of reach, again.
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        keep_following(&stop, &self.board, Task::Targets, || async {
            let revision = self.reconcile().await?;
            self.follow(revision + 1, &stop).await
        })
        .await;
    }

    /// Registers what etcd lists and this node lacks, drains what the cluster registered
    /// here and etcd no longer lists; the revision etcd is at.
    async fn reconcile(&self) -> Result<i64, EtcdError> {
        let (keys, revision) = self.etcd.get_prefix(&self.prefix).await?;
        self.board.reached(Task::Targets, self.etcd.endpoint());
        let listed: Vec<(Target, Option<String>)> = keys
            .iter()
            .filter_map(|kv| Some((self.target_of(&kv.key)?, zone_of(&kv.value))))
            .collect();
        let names: HashSet<&Target> = listed.iter().map(|(t, _)| t).collect();
        // A registration deleted while the watch was down is no longer waited for.
        lock(&self.pending).retain(|(t, _)| names.contains(t));
        let gone: Vec<Target> = lock(&self.known)
            .iter()
            .filter(|t| !names.contains(t))
            .cloned()
            .collect();
        for target in gone {
            self.drain(&target);
        }
        for (target, zone) in listed {
            self.take(target, zone);
        }
        Ok(revision)
    }

    /// Applies the watch's events from `revision` on until it breaks or `stop`; retries the
    /// pending registrations every second meanwhile.
    async fn follow(&self, revision: i64, stop: &CancellationToken) -> Result<(), EtcdError> {
        let mut watch = read_apart(self.etcd.watch(&self.prefix, true, revision).await?);
        loop {
            let retry = !lock(&self.pending).is_empty();
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                next = watch.next.recv() => match next {
                    Some(Ok(Some(events))) => events.into_iter().for_each(|e| self.event(e)),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(None)) | None => return Ok(()),
                },
                () = tokio::time::sleep(Duration::from_secs(1)), if retry => {
                    let pending: Vec<_> = lock(&self.pending).drain().collect();
                    pending.into_iter().for_each(|(t, zone)| self.take(t, zone));
                }
            }
        }
    }

    fn event(&self, event: Event) {
        match event {
            Event::Put(kv) => {
                if let Some(target) = self.target_of(&kv.key) {
                    self.take(target, zone_of(&kv.value));
                }
            }
            Event::Delete { key, .. } => {
                if let Some(target) = self.target_of(&key) {
                    self.drain(&target);
                }
            }
        }
    }

    /// Registers `target` here (again: registering twice changes nothing).
    fn take(&self, target: Target, zone: Option<String>) {
        // A target the document already has is not the cluster's to drain later.
        let had = self.runtime.has_target(&target.0, Some(target.1)).is_ok();
        let registered = self
            .runtime
            .register_target_in_zone(&target.0, target.1, zone.as_deref());
        match registered {
            Ok(()) => {
                lock(&self.pending).retain(|(t, _)| *t != target);
                if !had {
                    lock(&self.known).insert(target);
                }
            }
            // The group comes with a configuration this node has not applied yet.
            Err(RuntimeError::UnknownGroup { .. }) => {
                lock(&self.pending).insert((target, zone));
            }
            Err(e) => tracing::warn!(error = %e, "cluster: shared registration not applied"),
        }
    }

    /// Drains `target` here, if the cluster registered it.
    fn drain(&self, target: &Target) {
        lock(&self.pending).retain(|(t, _)| t != target);
        if lock(&self.known).remove(target) {
            // Already gone (its group was removed, or this node drained it itself).
            let _ = self.runtime.deregister_target(&target.0, target.1);
        }
    }

    /// Registers a target on every node: written to etcd, then registered here.
    pub(crate) async fn register(
        &self,
        group: String,
        address: SocketAddr,
        zone: Option<String>,
    ) -> Result<(), RegistrationError> {
        self.runtime.has_target(&group, None)?;
        let key = self.key((&group, address));
        let value = serde_json::to_vec(&Stored { zone: zone.clone() }).unwrap_or_default();
        if let Err(e) = self.etcd.put(&key, &value, None).await {
            self.board.lost(Task::Targets, &e);
            return Err(RegistrationError::Unavailable(e.to_string()));
        }
        self.runtime
            .register_target_in_zone(&group, address, zone.as_deref())?;
        lock(&self.known).insert((group, address));
        Ok(())
    }

    /// Deregisters a target the cluster registered, on every node (this one included,
    /// even while the registration is still pending here).
    pub(crate) async fn deregister(
        &self,
        group: String,
        address: SocketAddr,
    ) -> Result<(), RegistrationError> {
        let key = self.key((&group, address));
        let unavailable = |e: EtcdError| {
            self.board.lost(Task::Targets, &e);
            RegistrationError::Unavailable(e.to_string())
        };
        if self.etcd.get(&key).await.map_err(unavailable)?.0.is_none() {
            // Not a registration: a target of the shared document, or none at all.
            self.runtime.has_target(&group, Some(address))?;
            return Err(RegistrationError::InDocument { group, address });
        }
        self.etcd.delete(&key).await.map_err(unavailable)?;
        let target = (group, address);
        lock(&self.pending).retain(|(t, _)| *t != target);
        lock(&self.known).remove(&target);
        match self.runtime.deregister_target(&target.0, address) {
            Ok(())
            | Err(RuntimeError::UnknownTarget { .. } | RuntimeError::UnknownGroup { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The zone a registration's key holds (none for a value that says nothing of one).
fn zone_of(value: &[u8]) -> Option<String> {
    serde_json::from_slice::<Stored>(value).ok()?.zone
}
