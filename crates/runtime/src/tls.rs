//! TLS state kept by the control plane: each `https` listener's certificates (loaded once,
//! reloaded when their files change) and one client configuration per distinct target TLS
//! setting (loading the system roots is not free). Snapshots take `Arc`s from here.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use ballast_config::{
    AcmeChallenge, ClientCertificateMode, Config, ListenerName, ListenerTls, TargetTls,
};
use ballast_tls::{
    build_client_config, build_server_config, load_pair, AcmeChallenges, SniResolver,
};
use rustls::{ClientConfig, ServerConfig};

use crate::error::RuntimeError;

#[derive(Debug, Default)]
pub(crate) struct TlsState {
    listeners: HashMap<ListenerName, ListenerTlsState>,
    clients: HashMap<TargetTls, Arc<ClientConfig>>,
    /// Pending ACME challenge answers: one store for the process, kept across reloads.
    challenges: Arc<AcmeChallenges>,
}

#[derive(Debug)]
struct ListenerTlsState {
    config: ListenerTls,
    resolver: Arc<SniResolver>,
    server: Arc<ServerConfig>,
    /// Each certificate and key file with the modification time it was loaded at.
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
}

impl TlsState {
    /// The TLS state for `config`, reusing what `previous` already loaded for unchanged
    /// settings. Any file that does not load is an error naming its listener or group.
    pub(crate) fn prepare(config: &Config, previous: &TlsState) -> Result<Self, RuntimeError> {
        let mut next = TlsState {
            challenges: Arc::clone(&previous.challenges),
            ..TlsState::default()
        };
        for listener in &config.listeners {
            let Some(tls) = &listener.tls else { continue };
            let state = match previous.listeners.get(&listener.name) {
                Some(old) if old.config == *tls => ListenerTlsState {
                    config: old.config.clone(),
                    resolver: Arc::clone(&old.resolver),
                    server: Arc::clone(&old.server),
                    stamps: old.stamps.clone(),
                },
                _ => load_listener(&listener.name, tls, &next.challenges)?,
            };
            next.listeners.insert(listener.name.clone(), state);
        }
        for group in &config.target_groups {
            let Some(tls) = &group.tls else { continue };
            if next.clients.contains_key(tls) {
                continue;
            }
            let client = match previous.clients.get(tls) {
                Some(client) => Arc::clone(client),
                None => build_client_config(tls.verify, tls.ca.as_deref()).map_err(|source| {
                    RuntimeError::TargetTls {
                        group: group.name.clone(),
                        source: Box::new(source),
                    }
                })?,
            };
            next.clients.insert(tls.clone(), client);
        }
        Ok(next)
    }

    /// The server configuration of an `https` listener.
    pub(crate) fn server(&self, listener: &ListenerName) -> Option<Arc<ServerConfig>> {
        self.listeners.get(listener).map(|l| Arc::clone(&l.server))
    }

    /// The certificate resolver of an `https` listener (ACME publishes into it).
    pub(crate) fn resolver(&self, listener: &ListenerName) -> Option<Arc<SniResolver>> {
        self.listeners
            .get(listener)
            .map(|l| Arc::clone(&l.resolver))
    }

    /// The process's pending ACME challenge answers.
    pub(crate) fn challenges(&self) -> Arc<AcmeChallenges> {
        Arc::clone(&self.challenges)
    }

    /// The client configuration for a target TLS setting.
    pub(crate) fn client(&self, tls: &TargetTls) -> Option<Arc<ClientConfig>> {
        self.clients.get(tls).cloned()
    }

    /// Reloads the certificates whose files changed since they were loaded: new handshakes
    /// get the new ones, open connections keep theirs. A file that fails to load leaves the
    /// old certificates serving, and is logged.
    pub(crate) fn reload_changed(&mut self) {
        for (name, state) in &mut self.listeners {
            let changed = state
                .stamps
                .iter()
                .any(|(path, stamp)| modified(path) != *stamp);
            if !changed {
                continue;
            }
            let stamps = stamp_files(&state.config);
            match load_certificates(&state.config) {
                Ok(certificates) => {
                    state.resolver.replace(&certificates);
                    state.stamps = stamps;
                    tracing::info!(listener = %name, "certificates reloaded: their files changed");
                }
                Err(error) => {
                    // Keep serving the old ones; try again only when the files change again.
                    state.stamps = stamps;
                    tracing::error!(listener = %name, %error, "certificate files changed but do not load: still serving the previous certificates");
                }
            }
        }
    }
}

fn load_listener(
    name: &ListenerName,
    tls: &ListenerTls,
    challenges: &Arc<AcmeChallenges>,
) -> Result<ListenerTlsState, RuntimeError> {
    let error = |source| RuntimeError::ListenerTls {
        listener: name.clone(),
        source: Box::new(source),
    };
    let stamps = stamp_files(tls);
    let certificates = load_certificates(tls).map_err(error)?;
    let mut resolver = SniResolver::new(&certificates);
    if let Some(acme) = &tls.acme {
        if acme.challenge == AcmeChallenge::TlsAlpn01 {
            resolver = resolver.answering_acme(Arc::clone(challenges));
        }
        // A certificate stored by an earlier run serves from the first handshake on.
        if let Some(stored) = ballast_acme::stored_certificate(name, acme) {
            resolver.replace_managed(&[stored]);
        }
    }
    let resolver = Arc::new(resolver);
    let client_ca = tls.client_certificates.as_ref().and_then(|c| match c.mode {
        ClientCertificateMode::Verify => c.ca.as_deref(),
        ClientCertificateMode::Passthrough => None,
    });
    let passthrough = tls
        .client_certificates
        .as_ref()
        .is_some_and(|c| c.mode == ClientCertificateMode::Passthrough);
    let server = build_server_config(tls.policy, Arc::clone(&resolver), client_ca, passthrough)
        .map_err(error)?;
    Ok(ListenerTlsState {
        config: tls.clone(),
        resolver,
        server,
        stamps,
    })
}

fn load_certificates(
    tls: &ListenerTls,
) -> Result<Vec<ballast_tls::CertificateInfo>, ballast_tls::TlsError> {
    let provider = rustls::crypto::ring::default_provider();
    tls.certificates
        .iter()
        .map(|pair| load_pair(&pair.cert, &pair.key, &provider))
        .collect()
}

fn stamp_files(tls: &ListenerTls) -> Vec<(PathBuf, Option<SystemTime>)> {
    tls.certificates
        .iter()
        .flat_map(|p| [p.cert.clone(), p.key.clone()])
        .map(|path| {
            let stamp = modified(&path);
            (path, stamp)
        })
        .collect()
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
