//! Validation of TLS settings: listener certificates and policy, mutual TLS, target TLS.
//! The files must be readable now; the `ballast-tls` crate parses them when Ballast starts.

use std::path::{Path, PathBuf};

use crate::defaults::MAX_CERTIFICATES;
use crate::error::{ErrorKind, KeyPath};
use crate::raw::{RawListenerTls, RawTargetTls};
use crate::tls::{
    CertificateFiles, ClientCertificateMode, ClientCertificates, ListenerTls, TargetTls, TlsPolicy,
};

use super::Validator;

impl Validator {
    /// The `tls` table of a listener: required when it terminates TLS (`https`, `tls`),
    /// refused otherwise.
    pub(super) fn listener_tls_if(
        &mut self,
        path: &KeyPath,
        terminates: bool,
        raw: Option<&crate::raw::RawListenerTls>,
    ) -> Option<ListenerTls> {
        match (terminates, raw) {
            (true, Some(tls)) => self.listener_tls(path, tls),
            (true, None) => {
                self.invalid(
                    path.clone(),
                    "a listener that terminates TLS without tls",
                    "tls = { certificates = [{ cert = \"FILE\", key = \"FILE\" }] }",
                );
                None
            }
            (false, Some(_)) => {
                self.invalid(
                    path.clone(),
                    "tls on a listener that is not https or tls",
                    "protocol = \"https\" (or \"tls\" for TCP behind TLS)",
                );
                None
            }
            (false, None) => None,
        }
    }

    pub(super) fn listener_tls(
        &mut self,
        path: &KeyPath,
        raw: &RawListenerTls,
    ) -> Option<ListenerTls> {
        let mut ok = true;
        if raw.certificates.is_empty() && raw.acme.is_none() {
            self.invalid(
                path.key("certificates"),
                "no certificate",
                "at least one { cert = \"FILE\", key = \"FILE\" }, or an acme table",
            );
            ok = false;
        }
        let mut certificates = Vec::new();
        // Repeats are found by a scan of the earlier entries: bounded first.
        let listed = raw.certificates.len();
        let within = self.within(
            &path.key("certificates"),
            listed,
            MAX_CERTIFICATES,
            "certificates",
        );
        ok &= within;
        for (i, pair) in raw.certificates.iter().enumerate().take_while(|_| within) {
            let at = path.key("certificates").index(i);
            // Two certificates may serve one name (an RSA and an ECDSA one, say); the same
            // certificate twice is a mistake (only the first would ever serve).
            let first = raw.certificates[..i]
                .iter()
                .position(|p| p.cert == pair.cert);
            if let Some(first) = first {
                self.error(
                    at.key("cert"),
                    ErrorKind::Conflict {
                        what: format!(
                            "certificate file \"{}\"",
                            crate::error::shorten_str(&pair.cert)
                        ),
                        other: path
                            .key("certificates")
                            .index(first)
                            .key("cert")
                            .to_string(),
                    },
                );
                ok = false;
                continue;
            }
            let cert = self.readable(&at.key("cert"), &pair.cert);
            let key = self.readable(&at.key("key"), &pair.key);
            match (cert, key) {
                (Some(cert), Some(key)) => certificates.push(CertificateFiles { cert, key }),
                _ => ok = false,
            }
        }
        let policy = match raw.policy.as_deref() {
            None => TlsPolicy::Recommended,
            Some(name) => match TlsPolicy::ALL.iter().find(|(_, n)| *n == name) {
                Some((policy, _)) => *policy,
                None => {
                    let names: Vec<String> = TlsPolicy::ALL
                        .iter()
                        .map(|(_, n)| format!("\"{n}\""))
                        .collect();
                    self.invalid(
                        path.key("policy"),
                        format!("\"{name}\""),
                        format!("one of {}", names.join(", ")),
                    );
                    ok = false;
                    TlsPolicy::Recommended
                }
            },
        };
        let client_certificates = match &raw.client_certificates {
            None => None,
            Some(client) => {
                let at = path.key("client_certificates");
                let mode = match client.mode.as_deref().unwrap_or("verify") {
                    "verify" => ClientCertificateMode::Verify,
                    "passthrough" => ClientCertificateMode::Passthrough,
                    other => {
                        self.invalid(
                            at.key("mode"),
                            format!("\"{other}\""),
                            "\"verify\" or \"passthrough\"",
                        );
                        ok = false;
                        ClientCertificateMode::Verify
                    }
                };
                let ca = client
                    .ca
                    .as_deref()
                    .and_then(|ca| self.readable(&at.key("ca"), ca));
                if mode == ClientCertificateMode::Verify && ca.is_none() {
                    if client.ca.is_none() {
                        self.invalid(
                            at.key("ca"),
                            "no CA bundle",
                            "the CA bundle client certificates must chain to (mode \"verify\")",
                        );
                    }
                    ok = false;
                }
                Some(ClientCertificates { mode, ca })
            }
        };
        let acme = match &raw.acme {
            None => None,
            Some(acme) => {
                let acme = self.acme(&path.key("acme"), acme);
                ok &= acme.is_some();
                acme
            }
        };
        ok.then_some(ListenerTls {
            certificates,
            policy,
            client_certificates,
            acme,
        })
    }

    pub(super) fn target_tls(&mut self, path: &KeyPath, raw: Option<&RawTargetTls>) -> TargetTls {
        let Some(raw) = raw else {
            return TargetTls::default();
        };
        let server_name = raw.server_name.clone().filter(|name| {
            let ok = !name.is_empty()
                && name.len() <= 253
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                self.invalid(path.key("server_name"), format!("\"{name}\""), "a DNS name");
            }
            ok
        });
        TargetTls {
            verify: raw.verify.unwrap_or(true),
            ca: raw
                .ca
                .as_deref()
                .and_then(|ca| self.readable(&path.key("ca"), ca)),
            server_name,
        }
    }

    /// A file that exists and can be opened now (relative paths: from the working directory).
    pub(super) fn readable(&mut self, path: &KeyPath, file: &str) -> Option<PathBuf> {
        match std::fs::File::open(Path::new(file)) {
            Ok(_) => Some(PathBuf::from(file)),
            Err(error) => {
                self.invalid(
                    path.clone(),
                    format!("\"{file}\""),
                    format!("a readable file ({error})"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
