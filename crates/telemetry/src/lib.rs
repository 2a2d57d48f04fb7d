//! Telemetry: how Ballast reports what it does.
//!
//! Shared by both planes, layer 1 (it imports only `ballast-config`). It owns the log setup,
//! the metric handles the request path writes ([`metrics`]) and their registry and Prometheus
//! rendering ([`MetricsRegistry`]), the access log writer ([`AccessLog`]) and request and
//! trace ids ([`trace`]). Handles are resolved when the snapshot is built, so the hot path
//! never looks anything up by label.

mod access_log;
pub mod desync;
pub mod l4;
mod limited;
pub mod metrics;
mod registry;
pub mod trace;
pub mod waf;

pub use access_log::{timestamp, AccessLog, AccessLogError, AccessLogLine};
pub use limited::LogLimiter;
pub use registry::{AcmeGauges, MetricsRegistry, ProcessGauges, ScalingGauges, TargetGauges};

use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable `key=value` lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter (`--log-level` or `RUST_LOG`) does not parse.
    #[error("invalid log filter \"{filter}\": {reason}")]
    BadFilter {
        /// The filter as given.
        filter: String,
        /// The parser's reason.
        reason: String,
    },
    /// A global subscriber was already installed (only happens if called twice).
    #[error("logging is already initialised")]
    AlreadyInitialised,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format \"{other}\" (expected text or json)"
            )),
        }
    }
}

/// Log directives for the libraries that serve clients: errors only.
const QUIET_LIBRARIES: &str =
    "h2=error,hyper=error,hyper_util=error,rustls=error,tokio_rustls=error";

/// Installs the process-wide log subscriber writing to stderr.
///
/// `filter` uses `tracing` directives (`info`, `ballast_http=debug,info`); `RUST_LOG`, when
/// set, wins so an operator can raise verbosity without editing a unit file.
pub fn init_logging(format: LogFormat, filter: &str) -> Result<(), TelemetryError> {
    // Libraries on the data path log what a client does to them (an unexpected PING ack, an
    // IP address sent as SNI) at `warn`, once per connection: a client could flood the log.
    // Ballast reports those events itself, rate-limited; the libraries are held to errors
    // unless RUST_LOG asks for more.
    let directives =
        std::env::var("RUST_LOG").unwrap_or_else(|_| format!("{QUIET_LIBRARIES},{filter}"));
    let env_filter =
        EnvFilter::builder()
            .parse(&directives)
            .map_err(|e| TelemetryError::BadFilter {
                filter: directives.clone(),
                reason: e.to_string(),
            })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|_| TelemetryError::AlreadyInitialised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formats() {
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
