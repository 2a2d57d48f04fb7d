//! The cluster this node belongs to: `GET /api/v1/cluster` and its Prometheus series.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use ballast_runtime::ClusterStatus;
use http::StatusCode;

use super::dns::Families;
use crate::app::App;
use crate::reply::{error, reply};

/// `GET /api/v1/cluster`: this node, its link to etcd, the revision it runs and the live
/// nodes; 404 when it runs alone.
pub(super) async fn cluster(State(app): State<Arc<App>>) -> Response {
    match app.runtime.cluster_status() {
        Some(status) => reply(StatusCode::OK, &status),
        None => error(
            StatusCode::NOT_FOUND,
            "Admin.NoCluster",
            "this node runs alone: no [cluster] in its configuration",
        ),
    }
}

/// The cluster's series, when this node is in one.
pub(super) fn render_metrics(status: &ClusterStatus, out: &mut String) {
    let mut m = Families(out);
    let node = [("node", status.node.as_str())];
    m.head(
        "ballast_cluster_etcd_connected",
        "gauge",
        "1 when the last request to etcd succeeded, else 0 (the node keeps serving its last good configuration).",
    );
    m.sample(
        "ballast_cluster_etcd_connected",
        &node,
        u64::from(status.etcd_connected),
    );
    m.head(
        "ballast_cluster_config_revision",
        "gauge",
        "The etcd revision of the shared configuration this node runs.",
    );
    let revision = u64::try_from(status.config_revision).unwrap_or(0);
    m.sample("ballast_cluster_config_revision", &node, revision);
    m.head(
        "ballast_cluster_nodes",
        "gauge",
        "Live nodes of the cluster (each holding its membership lease), as this node sees them.",
    );
    m.sample("ballast_cluster_nodes", &node, status.nodes.len() as u64);
}
