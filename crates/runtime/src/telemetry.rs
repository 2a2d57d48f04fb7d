//! The runtime's share of telemetry: the metrics registry the snapshot draws handles from,
//! and the access log writer, restarted only when its configuration changes.

use std::sync::Arc;

use ballast_config::Config;
use ballast_telemetry::{AccessLog, MetricsRegistry};

use crate::error::RuntimeError;

/// Metrics and access log state, kept across reloads.
#[derive(Debug, Default, Clone)]
pub(crate) struct Telemetry {
    pub(crate) registry: Arc<MetricsRegistry>,
    /// Whether the request path counts (`[metrics] enabled`).
    pub(crate) metrics_on: bool,
    pub(crate) access_log: Option<Arc<AccessLog>>,
}

impl Telemetry {
    /// The telemetry for `config`: the same registry; the running access log when its
    /// settings are unchanged, else a new one (opened before anything is applied, so a bad
    /// path refuses the reload).
    pub(crate) fn prepare(config: &Config, current: &Telemetry) -> Result<Self, RuntimeError> {
        let access_log = match (&config.access_log, &current.access_log) {
            (None, _) => None,
            (Some(wanted), Some(running)) if running.config() == wanted => {
                Some(Arc::clone(running))
            }
            (Some(wanted), _) => Some(
                AccessLog::start(wanted, Arc::clone(&current.registry))
                    .map_err(RuntimeError::AccessLog)?,
            ),
        };
        Ok(Self {
            registry: Arc::clone(&current.registry),
            metrics_on: config.metrics.enabled,
            access_log,
        })
    }

    /// The registry, when the request path counts.
    pub(crate) fn metrics(&self) -> Option<&MetricsRegistry> {
        self.metrics_on.then_some(&*self.registry)
    }
}
