//! The `/api/v1` routes, `/metrics`, `/healthz` and `/readyz`, by concern: the config
//! document (`config`, with the change machinery shared by every edit in `change`),
//! listeners and rules, target groups and targets, scaling groups, explain, certificates,
//! the DNS server, the cluster, and health.

mod certificates;
mod change;
mod cluster;
mod config;
mod dns;
mod explain;
mod groups;
mod health;
mod listeners;
mod scaling;
mod waf;

use std::sync::Arc;

use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::app::App;

/// The API's routes (the dashboard's are merged beside them in `router`).
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/v1/openapi.json", get(health::openapi))
        .route(
            "/api/v1/config",
            get(config::get_config)
                .put(config::put_config)
                .patch(config::patch_config),
        )
        .route("/api/v1/reloads", get(config::reloads))
        .route("/api/v1/listeners", get(listeners::listeners))
        .route("/api/v1/listeners/{name}", get(listeners::listener))
        .route("/api/v1/listeners/{name}/rules", get(listeners::rules))
        .route(
            "/api/v1/listeners/{name}/rules/{priority}",
            put(listeners::put_rule).delete(listeners::delete_rule),
        )
        .route("/api/v1/target-groups", get(groups::groups))
        .route(
            "/api/v1/target-groups/{name}",
            get(groups::group)
                .put(groups::put_group)
                .delete(groups::delete_group),
        )
        .route(
            "/api/v1/target-groups/{name}/targets",
            get(groups::targets).post(groups::register),
        )
        .route(
            "/api/v1/target-groups/{name}/targets/{address}",
            delete(groups::deregister),
        )
        .route("/api/v1/explain", post(explain::explain))
        .route("/api/v1/certificates", get(certificates::certificates))
        .route("/api/v1/dns", get(dns::dns))
        .route("/api/v1/waf", get(waf::waf))
        .route("/api/v1/cluster", get(cluster::cluster))
        .route("/api/v1/scaling-groups", get(scaling::groups))
        .route("/api/v1/scaling-groups/{name}", get(scaling::group))
        .route(
            "/api/v1/scaling-groups/{name}/desired",
            put(scaling::set_desired),
        )
        .route(
            "/api/v1/scaling-groups/{name}/suspend",
            post(scaling::suspend),
        )
        .route(
            "/api/v1/scaling-groups/{name}/resume",
            post(scaling::resume),
        )
        .route(
            "/api/v1/scaling-groups/{name}/instances/{instance}/protection",
            put(scaling::protect),
        )
}
