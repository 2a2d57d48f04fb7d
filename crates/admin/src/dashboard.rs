//! The dashboard: an HTML page embedded in the binary and the live data it shows.

use std::sync::Arc;

use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::App;

/// Recent samples the dashboard charts.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    _samples: Vec<u64>,
}

/// Starts sampling the metrics once a second for the charts.
pub(crate) fn spawn_sampler(app: Arc<App>, _stop: CancellationToken) {
    let _ = &app.dashboard;
}

/// The dashboard's routes.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
}
