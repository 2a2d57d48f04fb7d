//! Validation of `tls.acme`: the directory, the domains, contacts, the challenge type and
//! renewal timing, plus the cross-listener check that an `http-01` challenge has an `http`
//! listener to be answered on.

use std::path::PathBuf;

use crate::defaults::{DEFAULT_ACME_RENEW_BEFORE, DEFAULT_ACME_STORAGE, MAX_ACME_DOMAINS};
use crate::error::KeyPath;
use crate::model::{ListenerConfig, ListenerProtocol};
use crate::raw::RawAcme;
use crate::tls::{AcmeChallenge, AcmeConfig};

use super::Validator;

impl Validator {
    pub(super) fn acme(&mut self, path: &KeyPath, raw: &RawAcme) -> Option<AcmeConfig> {
        let errors = self.error_count();
        if !raw.directory.starts_with("https://") || raw.directory.len() <= "https://".len() {
            self.invalid(
                path.key("directory"),
                format!("\"{}\"", raw.directory),
                "the https:// URL of an ACME directory (RFC 8555 requires HTTPS)",
            );
        }
        let domains = self.acme_domains(&path.key("domains"), &raw.domains);
        let contact = raw.contact.clone().unwrap_or_default();
        for (i, c) in contact.iter().enumerate() {
            let ok = c
                .strip_prefix("mailto:")
                .is_some_and(|address| address.contains('@') && !address.contains(' '));
            if !ok {
                self.invalid(
                    path.key("contact").index(i),
                    format!("\"{c}\""),
                    "a mailto: URL such as \"mailto:ops@example.com\"",
                );
            }
        }
        let storage = raw.storage.as_deref().unwrap_or(DEFAULT_ACME_STORAGE);
        if storage.is_empty() {
            self.invalid(path.key("storage"), "\"\"", "a directory path");
        }
        let challenge = match raw.challenge.as_deref() {
            None => AcmeChallenge::Http01,
            Some(name) => match AcmeChallenge::ALL.iter().find(|(_, n)| *n == name) {
                Some((challenge, _)) => *challenge,
                None => {
                    self.invalid(
                        path.key("challenge"),
                        format!("\"{name}\""),
                        "\"http-01\" or \"tls-alpn-01\"",
                    );
                    AcmeChallenge::Http01
                }
            },
        };
        let renew_before = self.positive_duration(
            &path.key("renew_before"),
            raw.renew_before.as_deref(),
            DEFAULT_ACME_RENEW_BEFORE,
        );
        let ca = raw
            .ca
            .as_deref()
            .and_then(|ca| self.readable(&path.key("ca"), ca));
        if raw.ca.is_some() && ca.is_none() {
            return None;
        }
        (self.error_count() == errors).then(|| AcmeConfig {
            directory: raw.directory.clone(),
            domains,
            contact,
            storage: PathBuf::from(storage),
            challenge,
            renew_before,
            ca,
        })
    }

    /// DNS names, lower case, without wildcards (neither challenge Ballast answers can prove
    /// a wildcard) and without repeats.
    fn acme_domains(&mut self, path: &KeyPath, raw: &[String]) -> Vec<String> {
        if raw.is_empty() {
            self.invalid(
                path.clone(),
                "no domain",
                "at least one DNS name, such as [\"example.com\"]",
            );
        }
        // Repeats are found by a scan of the names kept so far: bounded first.
        if !self.within(path, raw.len(), MAX_ACME_DOMAINS, "domains") {
            return Vec::new();
        }
        let mut domains: Vec<String> = Vec::with_capacity(raw.len());
        for (i, domain) in raw.iter().enumerate() {
            let name = domain.trim_end_matches('.').to_ascii_lowercase();
            if domain.starts_with("*.") {
                self.invalid(
                    path.index(i),
                    format!("\"{domain}\""),
                    "a DNS name without a wildcard (http-01 and tls-alpn-01 cannot prove one)",
                );
            } else if !is_dns_name(&name) {
                self.invalid(path.index(i), format!("\"{domain}\""), "a DNS name");
            } else if domains.contains(&name) {
                self.invalid(path.index(i), format!("\"{domain}\""), "each domain once");
            } else {
                domains.push(name);
            }
        }
        domains
    }

    /// An `http-01` challenge is answered by the `http` listeners of the same Ballast: a
    /// configuration with none would never get a certificate, so it is refused now.
    pub(super) fn acme_challenges_answerable(
        &mut self,
        root: &KeyPath,
        listeners: &[ListenerConfig],
    ) {
        let has_http = listeners
            .iter()
            .any(|l| l.protocol == ListenerProtocol::Http);
        for listener in listeners {
            let wants_http = listener
                .tls
                .as_ref()
                .and_then(|t| t.acme.as_ref())
                .is_some_and(|a| a.challenge == AcmeChallenge::Http01);
            if wants_http && !has_http {
                self.invalid(
                    root.key("listeners")
                        .key(&listener.name.0)
                        .key("tls")
                        .key("acme")
                        .key("challenge"),
                    "\"http-01\" with no http listener to answer it",
                    "an http listener (port 80 for a public CA), or challenge = \"tls-alpn-01\"",
                );
            }
        }
    }
}

/// Letters, digits and hyphens in dot-separated labels of 1 to 63 bytes, 253 in all, with at
/// least two labels (a CA issues for no bare single label).
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.contains('.')
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests;
