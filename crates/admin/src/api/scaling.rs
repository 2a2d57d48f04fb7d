//! Scaling groups: their capacity, instances and activity history.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use ballast_runtime::ScalingGroupStatus;
use http::StatusCode;
use serde::Serialize;

use crate::app::App;
use crate::extract::ApiPath;
use crate::reply::{error, reply};

#[derive(Debug, Serialize)]
struct Groups {
    scaling_groups: Vec<ScalingGroupStatus>,
}

/// `GET /api/v1/scaling-groups`.
pub(super) async fn groups(State(app): State<Arc<App>>) -> Response {
    let scaling_groups = app.runtime.scaling_status();
    reply(StatusCode::OK, &Groups { scaling_groups })
}

/// `GET /api/v1/scaling-groups/{name}`.
pub(super) async fn group(State(app): State<Arc<App>>, ApiPath(name): ApiPath<String>) -> Response {
    match app
        .runtime
        .scaling_status()
        .into_iter()
        .find(|g| g.name == name)
    {
        Some(g) => reply(StatusCode::OK, &g),
        None => error(
            StatusCode::NOT_FOUND,
            "Admin.UnknownScalingGroup",
            &format!("no running scaling group \"{name}\""),
        ),
    }
}
