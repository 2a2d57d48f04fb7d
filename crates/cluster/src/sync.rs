//! The shared configuration: read from etcd when the node starts (written there from the
//! node's file when the cluster has none yet), watched, and applied through the runtime's
//! reload path as it changes; and written there, with a compare-and-swap on its revision,
//! when this node's admin API changes it.

use std::sync::Arc;
use std::time::Duration;

use ballast_config::{Document, DocumentDiff};
use ballast_runtime::{ApplyError, Runtime};
use tokio_util::sync::CancellationToken;

use crate::document::{compose, decode, encode, with_sticky_secret};
use crate::etcd::{Etcd, EtcdError, Event, PutIf};
use crate::status::Board;

/// Where reloads that came from the cluster are recorded (reload history, logs).
const ORIGIN: &str = "cluster";

/// Longest wait between two attempts to reach etcd again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The config side of one node's membership in the cluster.
#[derive(Debug)]
pub(crate) struct ConfigSync {
    pub(crate) etcd: Arc<Etcd>,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) board: Arc<Board>,
    /// This node's own tables (`[cluster]`, `[admin]`, `[server]`), from its file.
    pub(crate) local: Document,
    /// The key of the shared document.
    pub(crate) key: Vec<u8>,
    /// Held while a document is written or applied, so that a watch event and this node's
    /// own change never apply out of order.
    pub(crate) applying: tokio::sync::Mutex<()>,
}

impl ConfigSync {
    /// Keeps the node on the cluster's document until `stop`: catch up, then watch; when
    /// etcd is out of reach, try again (0.25 s, doubling to 5 s) and catch up then.
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(250);
        while !stop.is_cancelled() {
            let outcome = match self.catch_up().await {
                Ok(revision) => {
                    backoff = Duration::from_millis(250);
                    self.follow(revision + 1).await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                self.board.lost(&e);
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Reads the shared document and applies it when it is newer than what runs; writes
    /// this node's when the cluster has none. The revision etcd is at.
    async fn catch_up(&self) -> Result<i64, EtcdError> {
        let (found, revision) = self.etcd.get(&self.key).await?;
        self.board.reached(self.etcd.endpoint());
        match found {
            Some(kv) => self.take(&kv.value, kv.mod_revision).await,
            None => {
                // The first node: its file becomes the cluster's document (unless another
                // node wrote one meanwhile, which the watch then brings).
                let _guard = self.applying.lock().await;
                let document = with_sticky_secret(&self.runtime.document());
                if let PutIf::Written(written) =
                    self.etcd.put_if(&self.key, &encode(&document), 0).await?
                {
                    tracing::info!(revision = written, "cluster: no shared configuration yet; this node's file is now the cluster's");
                    self.board.applied(written);
                    let _outcome = self.runtime.apply_document(ORIGIN, document);
                }
            }
        }
        Ok(revision)
    }

    /// Applies every change of the shared document from `revision` on, until the watch
    /// breaks.
    async fn follow(&self, revision: i64) -> Result<(), EtcdError> {
        let mut watch = self.etcd.watch(&self.key, false, revision).await?;
        while let Some(events) = watch.next().await? {
            for event in events {
                match event {
                    Event::Put(kv) => self.take(&kv.value, kv.mod_revision).await,
                    Event::Delete { .. } => {
                        tracing::warn!("cluster: the shared configuration was deleted from etcd; this node keeps running its last one");
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies the stored document of `revision` unless this node runs it (or a newer one)
    /// already.
    async fn take(&self, bytes: &[u8], revision: i64) {
        let _guard = self.applying.lock().await;
        if revision <= self.board.revision() {
            return;
        }
        match decode(bytes) {
            Ok(shared) => {
                let document = compose(&self.local, &shared);
                // A refusal is logged and counted by the runtime; the node keeps running
                // its last good document, and the next change is taken as usual.
                let _outcome = self.runtime.apply_document(ORIGIN, document);
            }
            Err(e) => self.runtime.refuse(ORIGIN, &[e.to_string()]),
        }
        self.board.applied(revision);
    }

    /// Writes `document`'s shared part if the stored one is still at `expected`, then
    /// applies it here.
    pub(crate) async fn write(
        &self,
        document: Document,
        expected: Option<i64>,
    ) -> Result<DocumentDiff, ApplyError> {
        let _guard = self.applying.lock().await;
        let expected = expected.unwrap_or_else(|| self.board.revision());
        let written = self
            .etcd
            .put_if(&self.key, &encode(&document), expected)
            .await;
        match written {
            Ok(PutIf::Written(revision)) => {
                self.board.reached(self.etcd.endpoint());
                self.board.applied(revision);
                // This node's own tables come from its file, whatever the change said.
                self.runtime
                    .apply_document("api", compose(&self.local, &document))
            }
            Ok(PutIf::Conflict(now)) => Err(ApplyError::SharedConflict {
                expected,
                found: now.map_or(0, |kv| kv.mod_revision),
            }),
            Err(e) => {
                self.board.lost(&e);
                Err(ApplyError::SharedUnavailable(e.to_string()))
            }
        }
    }
}
