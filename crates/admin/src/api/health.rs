//! Liveness, readiness, Prometheus metrics and the OpenAPI document.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

use crate::app::App;
use crate::reply::reply;

/// The OpenAPI 3.1 description of this API, served at `/api/v1/openapi.json`.
const OPENAPI: &str = include_str!("../openapi.json");

/// `GET /healthz`.
#[derive(Debug, Serialize)]
struct Liveness {
    status: &'static str,
}

/// `GET /readyz`: why not ready, or how many listeners are.
#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listeners: Option<usize>,
    /// In a cluster: whether etcd answers and the revision this node runs (a node cut off
    /// from etcd stays ready and keeps serving its last good configuration).
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterReadiness>,
}

/// The cluster part of `/readyz` (no error text: `/readyz` needs no token, and etcd's
/// messages name internal addresses; `GET /api/v1/cluster` has them).
#[derive(Debug, Serialize)]
struct ClusterReadiness {
    etcd_connected: bool,
    config_revision: i64,
    synced: bool,
}

pub(super) async fn healthz() -> Response {
    reply(StatusCode::OK, &Liveness { status: "alive" })
}

pub(super) async fn readyz(State(app): State<Arc<App>>) -> Response {
    let bound = app.runtime.listeners().len();
    let expected = app.runtime.config().listeners.len();
    let not_ready = |reason| Readiness {
        ready: false,
        reason: Some(reason),
        listeners: None,
        cluster: None,
    };
    if app.runtime.is_stopping() {
        return reply(StatusCode::SERVICE_UNAVAILABLE, &not_ready("draining"));
    }
    if bound != expected {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &not_ready("listeners not all bound"),
        );
    }
    let cluster = app.runtime.cluster_status();
    // A node that never had the cluster's configuration runs only its own file's.
    if cluster.as_ref().is_some_and(|c| !c.synced) {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &not_ready("the cluster's configuration not received yet"),
        );
    }
    let ready = Readiness {
        ready: true,
        reason: None,
        listeners: Some(bound),
        cluster: cluster.map(|c| ClusterReadiness {
            etcd_connected: c.etcd_connected,
            config_revision: c.config_revision,
            synced: c.synced,
        }),
    };
    reply(StatusCode::OK, &ready)
}

/// The registry's series, then the DNS server's when `[dns]` is configured, and the
/// cluster's when `[cluster]` is.
pub(super) async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut text = app.runtime.metrics_text();
    if let Some(dns) = app.runtime.dns_status() {
        super::dns::render_metrics(&dns, &mut text);
    }
    if let Some(cluster) = app.runtime.cluster_status() {
        super::cluster::render_metrics(&cluster, &mut text);
    }
    let mut response = text.into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

pub(super) async fn openapi() -> Response {
    let mut response = OPENAPI.into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
