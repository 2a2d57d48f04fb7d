//! Validation of a target group's health settings: `health_check`, `outlier_detection`,
//! `retry`.

use std::time::Duration;

use crate::defaults::*;
use crate::error::KeyPath;
use crate::health::{
    HealthCheckConfig, HealthCheckKind, OutlierDetectionConfig, RetryConfig, StatusMatcher,
};
use crate::raw::{RawHealthCheck, RawOutlierDetection, RawPort, RawRetry};

use super::Validator;

impl Validator {
    pub(super) fn health_check(
        &mut self,
        path: &KeyPath,
        raw: &RawHealthCheck,
        default_protocol: &str,
    ) -> Option<HealthCheckConfig> {
        let protocol = raw.protocol.as_deref().unwrap_or(default_protocol);
        let http_only = [
            ("path", raw.path.is_some()),
            ("method", raw.method.is_some()),
            ("host", raw.host.is_some()),
            ("matcher", raw.matcher.is_some()),
        ];
        let kind = match protocol {
            "http" | "https" => self.http_check(path, raw, protocol == "https"),
            "tcp" | "grpc" => {
                for (key, present) in http_only {
                    if present {
                        self.invalid(
                            path.key(key),
                            format!("a {key} on a {protocol} check"),
                            "no such key (it applies to http checks only)",
                        );
                    }
                }
                if protocol == "grpc" {
                    Some(HealthCheckKind::Grpc {
                        service: raw.grpc_service.clone().unwrap_or_default(),
                    })
                } else {
                    Some(HealthCheckKind::Tcp)
                }
            }
            other => {
                self.invalid(
                    path.key("protocol"),
                    format!("\"{other}\""),
                    "\"http\", \"https\", \"tcp\" or \"grpc\"",
                );
                None
            }
        };
        if raw.grpc_service.is_some() && protocol != "grpc" {
            self.invalid(
                path.key("grpc_service"),
                "a gRPC service on a non-gRPC check",
                "protocol = \"grpc\"",
            );
        }
        let port = match &raw.port {
            None => None,
            Some(RawPort::Word(w)) if w == "traffic-port" => None,
            Some(RawPort::Number(n)) if (1..=65_535).contains(n) => u16::try_from(*n).ok(),
            Some(other) => {
                let found = match other {
                    RawPort::Number(n) => n.to_string(),
                    RawPort::Word(w) => format!("\"{w}\""),
                };
                self.invalid(
                    path.key("port"),
                    found,
                    "a port from 1 to 65535 or \"traffic-port\"",
                );
                None
            }
        };
        let interval = self.positive_duration(
            &path.key("interval"),
            raw.interval.as_deref(),
            DEFAULT_HEALTH_INTERVAL,
        );
        // Without a timeout of its own, a short interval gets half of itself (so
        // `interval = "5s"` alone is valid), a long one the default.
        let timeout = self.positive_duration(
            &path.key("timeout"),
            raw.timeout.as_deref(),
            DEFAULT_HEALTH_TIMEOUT.min(interval / 2),
        );
        if timeout >= interval {
            self.invalid(
                path.key("timeout"),
                format!("{timeout:?}"),
                format!("less than the interval ({interval:?})"),
            );
        }
        let threshold = |v: &mut Self, key: &str, value: Option<i64>, default: u32| {
            v.count(&path.key(key), value, default as usize, 1..=10) as u32
        };
        // Every key is checked before giving up on an invalid kind, so one run reports all.
        let healthy_threshold = threshold(
            self,
            "healthy_threshold",
            raw.healthy_threshold,
            DEFAULT_HEALTHY_THRESHOLD,
        );
        let unhealthy_threshold = threshold(
            self,
            "unhealthy_threshold",
            raw.unhealthy_threshold,
            DEFAULT_UNHEALTHY_THRESHOLD,
        );
        Some(HealthCheckConfig {
            kind: kind?,
            port,
            interval,
            timeout,
            healthy_threshold,
            unhealthy_threshold,
        })
    }

    fn http_check(
        &mut self,
        path: &KeyPath,
        raw: &RawHealthCheck,
        tls: bool,
    ) -> Option<HealthCheckKind> {
        let check_path = raw
            .path
            .clone()
            .unwrap_or_else(|| DEFAULT_HEALTH_PATH.to_owned());
        // Visible ASCII only and no fragment: anything else is not a request target an
        // HTTP/1.1 request line can carry (percent-encode it).
        if !check_path.starts_with('/')
            || check_path.len() > 1024
            || !check_path.chars().all(|c| c.is_ascii_graphic() && c != '#')
        {
            self.invalid(
                path.key("path"),
                format!("\"{check_path}\""),
                "a path starting with '/', at most 1024 visible ASCII characters, no '#' (percent-encode the rest)",
            );
        }
        let method = raw.method.clone().unwrap_or_else(|| "GET".to_owned());
        if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
            self.invalid(
                path.key("method"),
                format!("\"{method}\""),
                "an HTTP method in capitals, such as \"GET\" or \"HEAD\"",
            );
        }
        let matcher_text = raw.matcher.as_deref().unwrap_or(DEFAULT_HEALTH_MATCHER);
        let matcher = match StatusMatcher::parse(matcher_text) {
            Ok(m) => Some(m),
            Err(reason) => {
                self.invalid(
                    path.key("matcher"),
                    format!("\"{matcher_text}\""),
                    format!(
                        "codes and ranges such as \"200\", \"200,202\" or \"200-399\": {reason}"
                    ),
                );
                None
            }
        };
        if let Some(host) = &raw.host {
            if host.is_empty() || host.chars().any(|c| c.is_ascii_control() || c == ' ') {
                self.invalid(
                    path.key("host"),
                    format!("\"{host}\""),
                    "a host name without spaces",
                );
            }
        }
        Some(HealthCheckKind::Http {
            tls,
            path: check_path,
            method,
            host: raw.host.clone(),
            matcher: matcher?,
            body_contains: None,
        })
    }

    pub(super) fn outlier_detection(
        &mut self,
        path: &KeyPath,
        raw: Option<&RawOutlierDetection>,
    ) -> OutlierDetectionConfig {
        let base = self.positive_duration(
            &path.key("base_ejection_time"),
            raw.and_then(|r| r.base_ejection_time.as_deref()),
            DEFAULT_BASE_EJECTION_TIME,
        );
        let max = self.positive_duration(
            &path.key("max_ejection_time"),
            raw.and_then(|r| r.max_ejection_time.as_deref()),
            DEFAULT_MAX_EJECTION_TIME.max(base),
        );
        if max < base {
            self.invalid(
                path.key("max_ejection_time"),
                format!("{max:?}"),
                format!("at least base_ejection_time ({base:?})"),
            );
        }
        OutlierDetectionConfig {
            enabled: raw.and_then(|r| r.enabled).unwrap_or(true),
            consecutive_failures: self.count(
                &path.key("consecutive_failures"),
                raw.and_then(|r| r.consecutive_failures),
                DEFAULT_CONSECUTIVE_FAILURES as usize,
                1..=1000,
            ) as u32,
            base_ejection_time: base,
            max_ejection_time: max,
            max_ejection_percent: self.count(
                &path.key("max_ejection_percent"),
                raw.and_then(|r| r.max_ejection_percent),
                DEFAULT_MAX_EJECTION_PERCENT as usize,
                0..=100,
            ) as u32,
        }
    }

    pub(super) fn deregistration_delay(&mut self, path: &KeyPath, raw: Option<&str>) -> Duration {
        let delay = self.duration(path, raw, DEFAULT_DEREGISTRATION_DELAY);
        if delay > MAX_DEREGISTRATION_DELAY {
            self.invalid(
                path.clone(),
                format!("\"{}\"", raw.unwrap_or_default()),
                "a duration from \"0s\" to \"1h\" (3600 s)",
            );
            return DEFAULT_DEREGISTRATION_DELAY;
        }
        delay
    }

    pub(super) fn retry(&mut self, path: &KeyPath, raw: Option<&RawRetry>) -> RetryConfig {
        RetryConfig {
            idempotent: raw.and_then(|r| r.idempotent).unwrap_or(true),
            budget_percent: self.count(
                &path.key("budget_percent"),
                raw.and_then(|r| r.budget_percent),
                DEFAULT_RETRY_BUDGET_PERCENT as usize,
                0..=100,
            ) as u32,
            min_per_second: self.count(
                &path.key("min_per_second"),
                raw.and_then(|r| r.min_per_second),
                DEFAULT_RETRY_MIN_PER_SECOND as usize,
                0..=10_000,
            ) as u32,
        }
    }
}

#[cfg(test)]
mod tests;
