//! Reloads from any source (file, SIGHUP, admin API), their bookkeeping, and the document the
//! running configuration came from.

use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use ballast_config::{Config, ConfigErrors, Document, DocumentDiff};
use ballast_telemetry::{AcmeGauges, ProcessGauges, TargetGauges};

use crate::error::RuntimeError;
use crate::Runtime;

/// Why a new configuration was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// It does not validate: every problem, each with its key path.
    #[error("invalid configuration: {0}")]
    Invalid(ConfigErrors),
    /// It validates but cannot run (a port in use, a certificate that does not load).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The running document changed (another change, a reload from the file, a
    /// deregistration) since the one this change was made from.
    #[error("the configuration changed while this change was prepared (version {expected}, now {found})")]
    Conflict {
        /// The version the change was made from.
        expected: u64,
        /// The running version.
        found: u64,
    },
    /// The shared document (in a cluster) changed since the revision this change was made
    /// from: another node's change won.
    #[error("the cluster's configuration changed since revision {expected} (now {found}); read it again and retry")]
    SharedConflict {
        /// The revision the change was made from.
        expected: i64,
        /// The shared document's revision now.
        found: i64,
    },
    /// The shared document (in a cluster) could not be written: the store is out of reach,
    /// or did not confirm the write in time (then it may still have taken it).
    #[error("the cluster's configuration store cannot be reached (the change is not confirmed; read the configuration again to see whether it was taken): {0}")]
    SharedUnavailable(String),
    /// The store refused the write (permission denied, too large).
    #[error("the cluster's configuration store refused the change: {0}")]
    SharedRefused(String),
    /// Written to the shared document (every other node applies it), but this node could
    /// not run it.
    #[error(
        "written to the cluster as revision {revision}, but this node cannot run it: {reason}"
    )]
    SharedNotApplied {
        /// The revision written.
        revision: i64,
        /// Why this node refused it.
        reason: String,
    },
}

/// What operators see of reloads (admin API, metrics, dashboard).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReloadStatus {
    /// Reloads applied since start.
    pub succeeded: u64,
    /// Reloads refused since start.
    pub failed: u64,
    /// When the running configuration was applied (start counts).
    pub last_success: Option<SystemTime>,
    /// When the last attempt was made, and where it came from (`file`, `sighup`, `api`).
    pub last_attempt: Option<(SystemTime, String)>,
    /// Why the last attempt failed; `None` when it succeeded.
    pub last_error: Option<Vec<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct Reloads {
    inner: Mutex<Running>,
    /// Held for a whole apply, so two applies (file, API) never interleave and the recorded
    /// document is always the one running.
    applying: Mutex<()>,
}

/// The reload status, the running document, and its version (bumped by every change of it).
#[derive(Debug, Default)]
struct Running {
    status: ReloadStatus,
    document: Document,
    version: u64,
}

impl Reloads {
    /// Takes a deregistered target out of the document too, so the next change made from the
    /// document (an admin API edit) does not bring it back.
    pub(crate) fn forget_target(&self, group: &str, address: std::net::SocketAddr) {
        let mut running = self.lock();
        // A target registered through the API is not in the document: nothing changes.
        if running.document.remove_target(group, address).is_ok() {
            running.version += 1;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Running> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Runtime {
    /// Records the document the running configuration was started from (for the admin API,
    /// which shows and edits it).
    pub fn set_document(&self, document: Document) {
        let mut running = self.reloads.lock();
        running.document = document;
        running.status.last_success = Some(SystemTime::now());
    }

    /// The document of the running configuration, secrets included.
    pub fn document(&self) -> Document {
        self.reloads.lock().document.clone()
    }

    /// The document and its version, for a change made from it
    /// ([`Runtime::apply_document_if`]).
    pub fn versioned_document(&self) -> (Document, u64) {
        let running = self.reloads.lock();
        (running.document.clone(), running.version)
    }

    /// The running configuration, typed.
    pub fn config(&self) -> Config {
        self.control.lock().config.clone()
    }

    /// Validates and applies a document; counts and records the outcome under `origin`.
    /// The running configuration is untouched unless everything succeeds. Returns what
    /// changed from the document running before.
    pub fn apply_document(
        &self,
        origin: &str,
        document: Document,
    ) -> Result<DocumentDiff, ApplyError> {
        self.apply_document_if(origin, document, None)
    }

    /// [`Runtime::apply_document`] only if the running document is still at version
    /// `expected` (when given): a change computed from an older document must not undo what
    /// happened since.
    pub fn apply_document_if(
        &self,
        origin: &str,
        document: Document,
        expected: Option<u64>,
    ) -> Result<DocumentDiff, ApplyError> {
        let _applying = self
            .reloads
            .applying
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = {
            let running = self.reloads.lock();
            match expected {
                Some(expected) if running.version != expected => {
                    return Err(ApplyError::Conflict {
                        expected,
                        found: running.version,
                    });
                }
                _ => running.document.clone(),
            }
        };
        let result = document
            .validate()
            .map_err(ApplyError::Invalid)
            .and_then(|config| self.apply(config).map_err(ApplyError::from));
        if let Err(error) = result {
            self.refuse(origin, &error.messages());
            return Err(error);
        }
        let diff = before.diff(&document);
        let mut running = self.reloads.lock();
        running.document = document;
        running.version += 1;
        let now = SystemTime::now();
        running.status.succeeded += 1;
        running.status.last_success = Some(now);
        running.status.last_attempt = Some((now, origin.to_owned()));
        running.status.last_error = None;
        drop(running);
        self.control.lock().telemetry.registry.reloads_ok.inc();
        tracing::info!(
            origin,
            changes = diff.changes.len(),
            listeners_added = names(&diff.listeners.added),
            listeners_removed = names(&diff.listeners.removed),
            listeners_changed = names(&diff.listeners.changed),
            target_groups_added = names(&diff.target_groups.added),
            target_groups_removed = names(&diff.target_groups.removed),
            target_groups_changed = names(&diff.target_groups.changed),
            "configuration reloaded"
        );
        Ok(diff)
    }

    /// Checks a document as [`Runtime::apply_document`] would (validation, certificates),
    /// without applying it.
    pub fn check_document(&self, document: &Document) -> Result<Config, ApplyError> {
        let config = document.validate().map_err(ApplyError::Invalid)?;
        let state = self.control.lock();
        crate::tls::TlsState::prepare(&config, &state.tls)?;
        Ok(config)
    }

    /// Records a reload refused before it reached the runtime (a file that does not parse).
    pub fn refuse(&self, origin: &str, errors: &[String]) {
        let mut running = self.reloads.lock();
        running.status.failed += 1;
        running.status.last_attempt = Some((SystemTime::now(), origin.to_owned()));
        running.status.last_error = Some(errors.to_vec());
        drop(running);
        self.control.lock().telemetry.registry.reloads_failed.inc();
        // The messages as written, one after the other (not a Rust list with escaped quotes).
        tracing::error!(origin, errors = %errors.join("; "), "reload refused, the running configuration stays");
    }

    /// Reload counts and the last error.
    pub fn reload_status(&self) -> ReloadStatus {
        self.reloads.lock().status.clone()
    }

    /// Every metric, in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let targets: Vec<TargetGauges> = self
            .target_health()
            .into_iter()
            .map(|t| TargetGauges {
                group: t.group.to_string(),
                address: t.address,
                healthy: t.state == crate::HealthState::Healthy && !t.ejected,
                in_flight: t.in_flight,
                transitions: t.transitions,
            })
            .collect();
        let status = self.reload_status();
        let process = ProcessGauges {
            last_reload_success_unix: status
                .last_success
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64()),
            last_reload_ok: status.last_error.is_none(),
            acme: self
                .acme_status()
                .into_iter()
                .map(|(name, s)| AcmeGauges {
                    listener: name.to_string(),
                    not_after_unix: s
                        .not_after
                        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                        .map(|d| d.as_secs_f64()),
                    failures: s.failures,
                })
                .collect(),
            scaling: self
                .scaling_status()
                .into_iter()
                .map(|g| ballast_telemetry::ScalingGauges {
                    group: g.name,
                    desired: g.desired,
                    min: g.min,
                    max: g.max,
                    in_service: g.in_service,
                    pending: g.pending,
                    terminating: g.terminating,
                })
                .collect(),
        };
        self.metrics().render(&targets, &process)
    }

    /// The state of every ACME-managed certificate, by listener.
    pub fn acme_status(&self) -> Vec<(ballast_config::ListenerName, ballast_acme::AcmeStatus)> {
        let state = self.control.lock();
        let mut all: Vec<_> = state
            .acme
            .iter()
            .map(|(name, task)| {
                let status = task
                    .status
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                (name.clone(), status)
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The metrics registry (the dashboard reads rates from it).
    pub fn metrics(&self) -> std::sync::Arc<ballast_telemetry::MetricsRegistry> {
        std::sync::Arc::clone(&self.control.lock().telemetry.registry)
    }

    /// Reopens the access log file (SIGUSR1, after log rotation).
    pub fn reopen_access_log(&self) {
        if let Some(log) = &self.control.lock().telemetry.access_log {
            log.reopen();
        }
    }
}

impl ApplyError {
    /// Every problem, one message each, key path first.
    pub fn messages(&self) -> Vec<String> {
        match self {
            ApplyError::Invalid(errors) => {
                errors.errors().iter().map(ToString::to_string).collect()
            }
            ApplyError::Runtime(e) => vec![e.to_string()],
            other @ (ApplyError::Conflict { .. }
            | ApplyError::SharedConflict { .. }
            | ApplyError::SharedUnavailable(_)
            | ApplyError::SharedRefused(_)
            | ApplyError::SharedNotApplied { .. }) => vec![other.to_string()],
        }
    }
}

impl Runtime {
    /// What a request would get on `listener` (rule, group, target, why); `None` when no such
    /// listener serves.
    pub fn explain<B>(
        &self,
        listener: &str,
        request: &http::Request<B>,
        client: std::net::IpAddr,
    ) -> Option<ballast_http::Explanation> {
        let snapshot = self.control.snapshot.load();
        ballast_http::explain(
            &snapshot,
            &ballast_config::ListenerName(listener.into()),
            request,
            client,
        )
    }
}

/// Names for a log field, comma-separated; `None` (the field left out) when there are none.
fn names(list: &[String]) -> Option<String> {
    (!list.is_empty()).then(|| list.join(","))
}
