//! Validation of `[server]`, `[admin]`, `[access_log]` and `[metrics]`.

use std::net::SocketAddr;
use std::num::NonZeroUsize;

use super::Validator;
use crate::defaults::{
    DEFAULT_ACCESS_LOG_QUEUE, DEFAULT_ADMIN_BIND, DEFAULT_ADMIN_MAX_CONNECTIONS,
    DEFAULT_ADMIN_REQUEST_HEADER_TIMEOUT, DEFAULT_DRAIN_TIMEOUT,
};
use crate::error::KeyPath;
use crate::model::{ServerConfig, Workers};
use crate::ops::{AccessLogConfig, AccessLogOutput, AdminConfig, MetricsConfig};
use crate::raw::{RawAccessLog, RawAdmin, RawMetrics, RawServer};
use crate::secret::Secret;

/// Shortest admin token accepted: a guessable token is no protection.
const MIN_TOKEN_BYTES: usize = 16;
/// Longest token file read: a token is tens of bytes, and a path such as `/dev/zero` (the
/// config can come through the admin API) must not be read until memory runs out.
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// Reads a token file, refusing one longer than `MAX_TOKEN_FILE_BYTES`.
fn read_token_file(file: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(file)?
        .take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "longer than {MAX_TOKEN_FILE_BYTES} bytes"
        )));
    }
    Ok(text)
}

impl Validator {
    pub(super) fn server(&mut self, path: &KeyPath, raw: RawServer) -> ServerConfig {
        let workers = match raw.workers {
            None => Workers::Auto,
            Some(n) => match usize::try_from(n).ok().and_then(NonZeroUsize::new) {
                Some(n) if n.get() <= 1024 => Workers::Count(n),
                _ => {
                    self.invalid(
                        path.key("workers"),
                        n.to_string(),
                        "an integer from 1 to 1024",
                    );
                    Workers::Auto
                }
            },
        };
        ServerConfig {
            workers,
            drain_timeout: self.duration(
                &path.key("drain_timeout"),
                raw.drain_timeout.as_deref(),
                DEFAULT_DRAIN_TIMEOUT,
            ),
            zone: self.zone(&path.key("zone"), raw.zone.as_deref()),
            stickiness_secret: self.secret(&path.key("stickiness_secret"), raw.stickiness_secret),
            watch_config: raw.watch_config.unwrap_or(true),
            upgrade_socket: match raw.upgrade_socket {
                Some(p) if p.is_empty() || p.len() > 100 => {
                    self.invalid(
                        path.key("upgrade_socket"),
                        format!("\"{p}\""),
                        "a file path of 1 to 100 bytes (a Unix socket path)",
                    );
                    None
                }
                other => other.map(Into::into),
            },
        }
    }

    pub(super) fn admin(&mut self, path: &KeyPath, raw: Option<RawAdmin>) -> Option<AdminConfig> {
        let raw = raw?;
        let bind = match raw.bind.as_deref() {
            None => DEFAULT_ADMIN_BIND,
            Some(text) => self.socket_addr(&path.key("bind"), text)?,
        };
        let token = match (raw.token, raw.token_file) {
            (Some(_), Some(_)) => {
                self.invalid(
                    path.key("token_file"),
                    "both token and token_file",
                    "one of them",
                );
                None
            }
            (Some(token), None) => self.token(&path.key("token"), token),
            (None, Some(file)) => match read_token_file(&file) {
                Ok(text) => self.token(&path.key("token_file"), text.trim().to_owned()),
                Err(e) => {
                    self.invalid(
                        path.key("token_file"),
                        format!("\"{file}\" ({e})"),
                        "a readable file holding the token",
                    );
                    None
                }
            },
            (None, None) => None,
        };
        if token.is_none() && !is_loopback(bind) {
            self.invalid(
                path.key("token"),
                format!("no token with bind = \"{bind}\" (off loopback)"),
                "a bearer token (token or token_file) whenever the admin API is reachable from other hosts",
            );
            return None;
        }
        let request_header_timeout = self.positive_duration(
            &path.key("request_header_timeout"),
            raw.request_header_timeout.as_deref(),
            DEFAULT_ADMIN_REQUEST_HEADER_TIMEOUT,
        );
        let max_connections = self.count(
            &path.key("max_connections"),
            raw.max_connections,
            DEFAULT_ADMIN_MAX_CONNECTIONS,
            1..=65_536,
        );
        Some(AdminConfig {
            bind,
            token,
            request_header_timeout,
            max_connections,
        })
    }

    fn token(&mut self, path: &KeyPath, token: String) -> Option<Secret> {
        if token.len() < MIN_TOKEN_BYTES || token.chars().any(char::is_whitespace) {
            self.invalid(
                path.clone(),
                format!("a token of {} bytes", token.len()),
                format!(
                    "at least {MIN_TOKEN_BYTES} bytes without spaces (e.g. `openssl rand -hex 32`)"
                ),
            );
            return None;
        }
        Some(Secret::new(token))
    }

    pub(super) fn access_log(
        &mut self,
        path: &KeyPath,
        raw: Option<RawAccessLog>,
    ) -> Option<AccessLogConfig> {
        let raw = raw?;
        if let Some(format) = raw.format.as_deref() {
            if format != "json" {
                self.invalid(path.key("format"), format!("\"{format}\""), "\"json\"");
            }
        }
        let output = match raw.path.as_deref() {
            None | Some("stdout" | "-") => AccessLogOutput::Stdout,
            Some("") => {
                self.invalid(path.key("path"), "\"\"", "\"stdout\" or a file path");
                AccessLogOutput::Stdout
            }
            Some(file) => AccessLogOutput::File(file.into()),
        };
        let queue = match raw.queue {
            None => DEFAULT_ACCESS_LOG_QUEUE,
            Some(n) => match usize::try_from(n) {
                Ok(n) if (1..=1 << 24).contains(&n) => n,
                _ => {
                    self.invalid(path.key("queue"), n.to_string(), "from 1 to 16777216 lines");
                    DEFAULT_ACCESS_LOG_QUEUE
                }
            },
        };
        raw.enabled
            .unwrap_or(true)
            .then_some(AccessLogConfig { output, queue })
    }

    pub(super) fn metrics(raw: Option<RawMetrics>) -> MetricsConfig {
        MetricsConfig {
            enabled: raw.and_then(|m| m.enabled).unwrap_or(true),
        }
    }
}

fn is_loopback(address: SocketAddr) -> bool {
    address.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use crate::parse;

    fn errors(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn admin_defaults_to_loopback_9901() {
        let config = parse("[admin]\n").unwrap();
        let admin = config.admin.unwrap();
        assert_eq!(admin.bind.to_string(), "127.0.0.1:9901");
        assert!(admin.token.is_none());
        assert_eq!(
            admin.request_header_timeout,
            crate::defaults::DEFAULT_ADMIN_REQUEST_HEADER_TIMEOUT
        );
        assert_eq!(
            admin.max_connections,
            crate::defaults::DEFAULT_ADMIN_MAX_CONNECTIONS
        );
        assert!(parse("").unwrap().admin.is_none());
    }

    #[test]
    fn admin_limits_are_read_and_checked() {
        let admin = parse("[admin]\nrequest_header_timeout = \"2s\"\nmax_connections = 8\n")
            .unwrap()
            .admin
            .unwrap();
        assert_eq!(
            admin.request_header_timeout,
            std::time::Duration::from_secs(2)
        );
        assert_eq!(admin.max_connections, 8);
        let e = errors("[admin]\nrequest_header_timeout = \"0s\"\nmax_connections = 0\n");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("admin.request_header_timeout:"), "{e:?}");
        assert!(e[1].starts_with("admin.max_connections:"), "{e:?}");
    }

    #[test]
    fn admin_off_loopback_requires_a_token() {
        let e = errors("[admin]\nbind = \"0.0.0.0:9901\"\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("admin.token:"), "{e:?}");
        let ok = parse("[admin]\nbind = \"0.0.0.0:9901\"\ntoken = \"0123456789abcdef0123\"\n");
        assert!(ok.is_ok());
    }

    #[test]
    fn short_tokens_are_refused() {
        let e = errors("[admin]\ntoken = \"short\"\n");
        assert!(e[0].starts_with("admin.token:"), "{e:?}");
    }

    #[test]
    fn access_log_outputs_and_queue() {
        let c = parse("[access_log]\n").unwrap();
        assert_eq!(c.access_log.unwrap().output, super::AccessLogOutput::Stdout);
        let c = parse("[access_log]\npath = \"/tmp/a.log\"\nqueue = 10\n").unwrap();
        let log = c.access_log.unwrap();
        assert_eq!(log.queue, 10);
        assert!(parse("[access_log]\nenabled = false\n")
            .unwrap()
            .access_log
            .is_none());
        let e = errors("[access_log]\nformat = \"xml\"\nqueue = 0\n");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("access_log.format:"), "{e:?}");
        assert!(e[1].starts_with("access_log.queue:"), "{e:?}");
    }

    #[test]
    fn metrics_default_on() {
        assert!(parse("").unwrap().metrics.enabled);
        assert!(
            !parse("[metrics]\nenabled = false\n")
                .unwrap()
                .metrics
                .enabled
        );
    }
}
