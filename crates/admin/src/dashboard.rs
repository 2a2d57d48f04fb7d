//! The dashboard: an HTML page embedded in the binary and the live data it shows.

use std::sync::Arc;

use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::App;

/// Recent samples the dashboard charts.
#[derive(Debug, Default)]
pub(crate) struct Stats;

/// Starts sampling the metrics once a second for the charts.
pub(crate) fn spawn_sampler(_app: Arc<App>, _stop: CancellationToken) {}

/// The dashboard's routes.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
}
