//! The shared configuration: read from etcd when the node starts (written there from the
//! node's file when the cluster has none yet), watched, and applied through the runtime's
//! reload path as it changes; and written there, with a compare-and-swap on its revision,
//! when this node's admin API changes it.

use std::sync::{Arc, Mutex};

use ballast_config::{Document, DocumentDiff};
use ballast_runtime::{ApplyError, Runtime};
use tokio_util::sync::CancellationToken;

use crate::document::{compose, decode, encode, with_sticky_secret};
use crate::etcd::{Etcd, EtcdError, Event, KeyValue, PutIf};
use crate::follow::{keep_following, read_apart};
use crate::lock;
use crate::status::{Board, Task};

/// Where reloads that came from the cluster are recorded (reload history, logs).
const ORIGIN: &str = "cluster";

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
    /// The newest revision this node tried to apply (a refused one is not tried again for
    /// every watch event, only when the node catches up).
    pub(crate) attempted: Mutex<i64>,
    /// The cluster's sticky-cookie secret as last stored, for a node whose file sets its own
    /// (which must not reach the other nodes through this node's changes).
    pub(crate) shared_secret: Mutex<Option<String>>,
}

impl ConfigSync {
    /// Keeps the node on the cluster's document until `stop`: catch up, then watch; when
    /// etcd is out of reach (or the watch breaks, or seems to have missed a change), again.
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        keep_following(&stop, &self.board, Task::Config, || async {
            let revision = self.catch_up().await?;
            self.follow(revision + 1, &stop).await
        })
        .await;
    }

    /// Reads the shared document and applies it unless it is the one this node runs
    /// (newer, or older after etcd was restored from a backup); writes this node's when the
    /// cluster has none. The revision etcd is at.
    async fn catch_up(&self) -> Result<i64, EtcdError> {
        let (found, revision) = self.etcd.get(&self.key).await?;
        self.board.reached(Task::Config, self.etcd.endpoint());
        match found {
            Some(kv) if kv.mod_revision != self.board.revision() => {
                self.take(&kv.value, kv.mod_revision, true).await;
            }
            Some(_) => {}
            None => self.bootstrap().await?,
        }
        Ok(revision)
    }

    /// The cluster has no document (a new cluster, or its key was deleted): this node's
    /// running one becomes the cluster's, with a sticky-cookie secret, unless another node
    /// wrote one meanwhile (which the watch then brings).
    async fn bootstrap(&self) -> Result<(), EtcdError> {
        let _guard = self.applying.lock().await;
        let mut raw = self.runtime.document().into_raw();
        if secret_of(&self.local).is_some() {
            // This node's own secret is not the cluster's: the cluster gets one of its own.
            if let Some(server) = raw.server.as_mut() {
                server.stickiness_secret = None;
            }
        }
        let document = with_sticky_secret(&Document::from_raw(raw));
        *lock(&self.shared_secret) = secret_of(&document);
        if let PutIf::Written(written) = self.etcd.put_if(&self.key, &encode(&document), 0).await? {
            tracing::info!(
                revision = written,
                "cluster: no shared configuration; this node's is now the cluster's"
            );
            *lock(&self.attempted) = written;
            let mine = compose(&self.local, &document);
            if self.runtime.apply_document(ORIGIN, mine).is_ok() {
                self.board.applied(written);
            }
        }
        Ok(())
    }

    /// Applies every change of the shared document from `revision` on, until the watch
    /// breaks, the board asks for a new read, or `stop`.
    async fn follow(&self, revision: i64, stop: &CancellationToken) -> Result<(), EtcdError> {
        let mut watch = read_apart(self.etcd.watch(&self.key, false, revision).await?);
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = self.board.resync.notified() => return Ok(()),
                next = watch.next.recv() => match next {
                    Some(Ok(Some(events))) => {
                        for event in events {
                            self.event(event).await;
                        }
                    }
                    Some(Err(e)) => return Err(e),
                    Some(Ok(None)) | None => return Ok(()),
                },
            }
        }
    }

    async fn event(&self, event: Event) {
        match event {
            Event::Put(KeyValue {
                value,
                mod_revision,
                ..
            }) => self.take(&value, mod_revision, false).await,
            Event::Delete { .. } => {
                tracing::warn!("cluster: the shared configuration was deleted from etcd; this node keeps running its last one, and the next change writes it again");
            }
        }
    }

    /// Applies the stored document of `revision` (unless this node tried it, or a newer
    /// one, already; always when `forced`).
    async fn take(&self, bytes: &[u8], revision: i64, forced: bool) {
        let _guard = self.applying.lock().await;
        {
            let mut attempted = lock(&self.attempted);
            if !forced && revision <= *attempted {
                return;
            }
            *attempted = revision;
        }
        match decode(bytes) {
            Ok(shared) => {
                *lock(&self.shared_secret) = secret_of(&shared);
                let document = compose(&self.local, &shared);
                // A refusal is logged and counted by the runtime; the node keeps running
                // its last good document (and says which revision that is).
                if self.runtime.apply_document(ORIGIN, document).is_ok() {
                    self.board.applied(revision);
                }
            }
            Err(e) => self.runtime.refuse(ORIGIN, &[e.to_string()]),
        }
    }

    /// Writes `document`'s shared part if the stored one is still at `expected` (else at
    /// the revision this node runs) and this node's document still at `version` (when
    /// given), then applies it here.
    pub(crate) async fn write(
        &self,
        document: Document,
        expected: Option<i64>,
        version: Option<u64>,
    ) -> Result<DocumentDiff, ApplyError> {
        let _guard = self.applying.lock().await;
        // A change made from a document a watch event has replaced since: made again.
        if let Some(version) = version {
            let now = self.runtime.versioned_document().1;
            if now != version {
                return Err(ApplyError::Conflict {
                    expected: version,
                    found: now,
                });
            }
        }
        // This node's own tables come from its file, whatever the change said; and its own
        // sticky secret, if its file sets one, stays here.
        let document = if secret_of(&self.local).is_some() {
            let mut raw = document.into_raw();
            let server = raw.server.get_or_insert_with(Default::default);
            server.stickiness_secret = lock(&self.shared_secret).clone();
            Document::from_raw(raw)
        } else {
            document
        };
        let mine = compose(&self.local, &document);
        self.runtime.check_document(&mine)?;
        let value = encode(&document);
        let revision = expected.unwrap_or_else(|| self.board.revision());
        let mut written = self.etcd.put_if(&self.key, &value, revision).await;
        if expected.is_none() && matches!(written, Ok(PutIf::Conflict(None))) {
            // The key was deleted: this node's document was the cluster's last one.
            written = self.etcd.put_if(&self.key, &value, 0).await;
        }
        match written {
            Ok(PutIf::Written(at)) => self.run_written(at, mine),
            // A write retried on another endpoint after a timeout finds itself there.
            Ok(PutIf::Conflict(Some(now))) if now.value == value => {
                self.run_written(now.mod_revision, mine)
            }
            Ok(PutIf::Conflict(now)) => Err(ApplyError::SharedConflict {
                expected: revision,
                found: now.map_or(0, |kv| kv.mod_revision),
            }),
            Err(e @ EtcdError::Status { .. }) => Err(ApplyError::SharedRefused(e.to_string())),
            Err(e) => {
                self.board.lost(Task::Config, &e);
                Err(ApplyError::SharedUnavailable(e.to_string()))
            }
        }
    }

    /// Runs here the document just written as revision `at`.
    fn run_written(&self, at: i64, mine: Document) -> Result<DocumentDiff, ApplyError> {
        self.board.reached(Task::Config, self.etcd.endpoint());
        *lock(&self.attempted) = at;
        match self.runtime.apply_document("api", mine) {
            Ok(diff) => {
                self.board.applied(at);
                Ok(diff)
            }
            Err(e) => Err(ApplyError::SharedNotApplied {
                revision: at,
                reason: e.messages().join("; "),
            }),
        }
    }
}

/// A document's sticky-cookie secret.
fn secret_of(document: &Document) -> Option<String> {
    document.raw().server.as_ref()?.stickiness_secret.clone()
}
