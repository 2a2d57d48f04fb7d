//! `GET /api/v1/waf`: each web application firewall rule set's counters (matches per rule,
//! requests its default action decided), for operators and the dashboard.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::Serialize;

use crate::app::App;
use crate::reply::reply;

/// Every set's counters.
#[derive(Debug, Serialize)]
pub(crate) struct WafView {
    sets: Vec<SetView>,
}

#[derive(Debug, Serialize)]
struct SetView {
    name: String,
    /// In evaluation order.
    rules: Vec<RuleView>,
    default_allowed: u64,
    default_blocked: u64,
}

#[derive(Debug, Serialize)]
struct RuleView {
    name: String,
    action: &'static str,
    matches: u64,
}

/// `GET /api/v1/waf`: every set a listener or rule named since start (an empty list
/// without any).
pub(super) async fn waf(State(app): State<Arc<App>>) -> Response {
    let sets = app
        .runtime
        .metrics()
        .wafs()
        .into_iter()
        .map(|(name, m)| SetView {
            name,
            rules: m
                .rules
                .iter()
                .map(|(rule, action, count)| RuleView {
                    name: rule.to_string(),
                    action,
                    matches: count.get(),
                })
                .collect(),
            default_allowed: m.default_allowed.get(),
            default_blocked: m.default_blocked.get(),
        })
        .collect();
    reply(StatusCode::OK, &WafView { sets })
}
