//! Automatic certificates for `https` listeners: obtained from an ACME CA (RFC 8555), kept on
//! disk, renewed before they expire, and handed to the listener's SNI resolver.
//!
//! Control plane, layer 1: imports `ballast-config` and `ballast-tls` only, and is run by
//! `ballast-runtime` on its control thread. It reaches the data plane through two lock-free
//! seams owned by `ballast-tls`: the listener's [`SniResolver`] (issued certificates, one
//! `ArcSwap` store each) and the process's [`AcmeChallenges`] (answers to the CA's
//! validations, read by `http` listeners for `http-01` and by the resolver for
//! `tls-alpn-01`). Nothing here runs per request.

mod client;
mod der;
mod issue;
mod renewal;
mod storage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use ballast_config::{AcmeConfig, ListenerName};
use ballast_tls::{AcmeChallenges, CertificateInfo, SniResolver};

use renewal::{backoff, plan, Plan, MAX_RETRY, MAX_SLEEP};
use storage::Storage;

/// Why an issuance or renewal failed. Logged by the task, which retries with backoff. Each
/// variant keeps the error underneath as its `source`; the message already includes it, so
/// `to_string()` (the log line, the admin API's `last_error`) alone is complete.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA answered with an error, or could not be reached.
    #[error("ACME: {0}")]
    Protocol(#[from] instant_acme::Error),
    /// A file or directory under `storage` could not be read or written.
    #[error("{}: {source}", path.display())]
    Storage {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A stored certificate says no expiry date that can be read.
    #[error("{}: cannot read the certificate's expiry", path.display())]
    Expiry {
        /// The certificate file.
        path: PathBuf,
    },
    /// A stored certificate or the CA bundle does not load.
    #[error("{0}")]
    Tls(#[from] ballast_tls::TlsError),
    /// A key or certificate signing request could not be made.
    #[error("key or CSR: {0}")]
    Key(#[from] rcgen::Error),
    /// The CA refused an authorization (its status says how).
    #[error("authorization not pending: {identifier}: {status:?}")]
    Authorization {
        /// The name the authorization is for.
        identifier: String,
        /// Its status at the CA.
        status: instant_acme::AuthorizationStatus,
    },
    /// The CA does not offer the configured challenge type.
    #[error("the CA offers no {0} challenge")]
    NoChallenge(&'static str),
    /// The order did not become ready.
    #[error("order failed: {0:?}")]
    OrderNotReady(instant_acme::OrderStatus),
    /// The new account's credentials could not be serialized to be stored.
    #[error("cannot serialize the account: {0}")]
    AccountCredentials(#[source] serde_json::Error),
    /// The key of a `tls-alpn-01` challenge certificate could not be loaded.
    #[error("tls-alpn-01 key: {0}")]
    ChallengeKey(#[source] rustls::Error),
}

/// What operators see of one listener's ACME certificate (admin API, metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcmeStatus {
    /// The domains asked for.
    pub domains: Vec<String>,
    /// When the certificate being served expires; `None` before the first one.
    pub not_after: Option<SystemTime>,
    /// When this process last obtained one.
    pub last_issued: Option<SystemTime>,
    /// Why the last attempt failed; `None` after a success or before any attempt.
    pub last_error: Option<String>,
    /// Attempts failed in a row.
    pub failures: u32,
    /// When the task next looks at the certificate (renewal or retry).
    pub next_check: Option<SystemTime>,
}

/// The status a task writes and the admin API reads (control plane only).
pub type SharedAcmeStatus = Arc<std::sync::Mutex<AcmeStatus>>;

fn update(status: &SharedAcmeStatus, change: impl FnOnce(&mut AcmeStatus)) {
    let mut status = status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    change(&mut status);
}

/// The certificate already stored for `listener`, if there is one that loads: what it
/// serves from the first handshake on after a restart, before the task looks at renewal.
pub fn stored_certificate(listener: &ListenerName, config: &AcmeConfig) -> Option<CertificateInfo> {
    match Storage::new(listener, config).load() {
        Ok(stored) => stored.map(|s| s.info),
        Err(error) => {
            tracing::warn!(listener = %listener, %error, "stored ACME certificate does not load: a new one will be obtained");
            None
        }
    }
}

/// Keeps `listener`'s ACME certificate valid, forever (abort the task to stop it): serves
/// the stored certificate if there is one, obtains one when there is none or when it
/// expires within `renew_before`, and publishes each new certificate to `resolver` without
/// touching open connections. A failure is logged, the certificate being served (if any)
/// stays, and the attempt is retried with exponential backoff.
pub async fn run(
    listener: ListenerName,
    config: AcmeConfig,
    resolver: Arc<SniResolver>,
    challenges: Arc<AcmeChallenges>,
    status: SharedAcmeStatus,
) {
    update(&status, |s| s.domains.clone_from(&config.domains));
    let storage = Storage::new(&listener, &config);
    let domains = config.domains.join(",");
    let mut failures = 0u32;
    let mut issued_now = false;
    loop {
        let stored = match storage.load() {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(listener = %listener, domains, %error, "stored ACME certificate does not load: obtaining a new one");
                None
            }
        };
        if let Some(stored) = &stored {
            update(&status, |s| s.not_after = Some(stored.not_after));
            resolver.replace_managed(std::slice::from_ref(&stored.info));
            let expires_in = stored
                .not_after
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            tracing::info!(listener = %listener, domains, path = %storage.dir.display(), expires_in_days = expires_in.as_secs() / 86_400, fresh = issued_now, "ACME certificate serving");
        }
        let due = stored.as_ref().map_or(Plan::Renew, |s| {
            plan(SystemTime::now(), s.not_after, config.renew_before)
        });
        let wait = match due {
            Plan::Serve { renew_in } => renew_in.min(MAX_SLEEP),
            Plan::Renew if issued_now => {
                tracing::warn!(listener = %listener, domains, renew_before = ?config.renew_before, "the new ACME certificate is already within renew_before: next renewal in an hour");
                MAX_RETRY
            }
            Plan::Renew => {
                let renewal = stored.is_some();
                match attempt(&listener, &config, &storage, &challenges, renewal).await {
                    Ok(()) => {
                        failures = 0;
                        issued_now = true;
                        update(&status, |s| {
                            s.last_issued = Some(SystemTime::now());
                            s.last_error = None;
                            s.failures = 0;
                        });
                        continue;
                    }
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        let retry_in = backoff(failures);
                        update(&status, |s| {
                            s.last_error = Some(error.to_string());
                            s.failures = failures;
                        });
                        tracing::error!(
                            listener = %listener,
                            domains,
                            %error,
                            failures,
                            retry_in = ?retry_in,
                            serving = if renewal { "the previous certificate" } else { "no ACME certificate yet" },
                            "ACME certificate request failed"
                        );
                        retry_in
                    }
                }
            }
        };
        issued_now = false;
        update(&status, |s| s.next_check = Some(SystemTime::now() + wait));
        tokio::time::sleep(wait).await;
    }
}

async fn attempt(
    listener: &ListenerName,
    config: &AcmeConfig,
    storage: &Storage,
    challenges: &Arc<AcmeChallenges>,
    renewal: bool,
) -> Result<(), AcmeError> {
    tracing::info!(listener = %listener, domains = config.domains.join(","), directory = %config.directory, renewal, "requesting an ACME certificate");
    let started = std::time::Instant::now();
    let result = issue::issue(config, storage, challenges).await;
    if let Err(AcmeError::Protocol(instant_acme::Error::Api(problem))) = &result {
        if problem.r#type.as_deref() == Some("urn:ietf:params:acme:error:accountDoesNotExist") {
            // The CA forgot the account (a test CA restarted): make a new one next time.
            storage.forget_account();
        }
    }
    if result.is_ok() {
        tracing::info!(listener = %listener, domains = config.domains.join(","), took = ?started.elapsed(), renewal, "ACME certificate issued");
    }
    result
}
