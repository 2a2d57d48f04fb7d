//! Validated target-health settings: active health checks, passive outlier detection and
//! retries.

use std::time::Duration;

/// An active health check of a target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckConfig {
    /// What a check does.
    pub kind: HealthCheckKind,
    /// Port to probe; `None` is the target's own (traffic) port.
    pub port: Option<u16>,
    /// Time between two checks of one target.
    pub interval: Duration,
    /// Time one check may take.
    pub timeout: Duration,
    /// Passing checks in a row that make a target healthy.
    pub healthy_threshold: u32,
    /// Failing checks in a row that make a target unhealthy.
    pub unhealthy_threshold: u32,
}

/// What one health check does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheckKind {
    /// An HTTP/1.1 request on a fresh connection (over TLS for `https`, the target's
    /// certificate not verified, as ALB's checks do); passes when the status matches.
    Http {
        /// `https`: TLS first.
        tls: bool,
        /// Path (and query) requested.
        path: String,
        /// Method used.
        method: String,
        /// `Host` header; `None` sends the target's address.
        host: Option<String>,
        /// Passing statuses.
        matcher: StatusMatcher,
        /// Text the body's first 5120 bytes must contain (DNS checks' `search_string`).
        body_contains: Option<String>,
    },
    /// A TCP connection that opens.
    Tcp,
    /// `grpc.health.v1.Health/Check` over HTTP/2; passes on `SERVING`.
    Grpc {
        /// Service name asked about (empty: the server as a whole).
        service: String,
    },
}

/// Status codes that pass an HTTP health check: `"200"`, `"200,202"`, `"200-399"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMatcher(Vec<(u16, u16)>);

/// Passive health: targets that fail real traffic are ejected for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierDetectionConfig {
    /// Whether ejection happens at all.
    pub enabled: bool,
    /// Failures in a row (5xx, connect failure, timeout) that eject a target.
    pub consecutive_failures: u32,
    /// Length of a first ejection; the n-th ejection in a row lasts n times this.
    pub base_ejection_time: Duration,
    /// Cap on one ejection.
    pub max_ejection_time: Duration,
    /// Most targets ejected at once, in percent of the group (at least one may be).
    pub max_ejection_percent: u32,
}

/// Retries of failed requests on another target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retry idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE) without a body whose
    /// target failed before sending any response byte. Connect failures are always retried.
    pub idempotent: bool,
    /// Retries allowed as a share of recent requests, in percent.
    pub budget_percent: u32,
    /// Retries always allowed per second.
    pub min_per_second: u32,
}

impl StatusMatcher {
    /// Parses `"200"`, `"200,202"`, `"200-399"` or a mix; codes 100 to 599.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (low, high) = match part.split_once('-') {
                Some((low, high)) => (low.trim(), high.trim()),
                None => (part, part),
            };
            let code = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
            match (code(low), code(high)) {
                (Some(low), Some(high)) if low <= high => ranges.push((low, high)),
                _ => {
                    return Err(format!(
                        "\"{part}\" is not a status code or range from 100 to 599"
                    ))
                }
            }
        }
        Ok(Self(ranges))
    }

    /// Whether `status` passes.
    pub fn matches(&self, status: u16) -> bool {
        self.0
            .iter()
            .any(|&(low, high)| (low..=high).contains(&status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_accepts_codes_lists_and_ranges() {
        let m = StatusMatcher::parse("200,202, 300-399").unwrap();
        assert!(m.matches(200) && m.matches(202) && m.matches(302));
        assert!(!m.matches(201) && !m.matches(400));
        assert!(StatusMatcher::parse("200-100").is_err());
        assert!(StatusMatcher::parse("abc").is_err());
        assert!(StatusMatcher::parse("99").is_err());
        assert!(StatusMatcher::parse("").is_err());
    }
}
