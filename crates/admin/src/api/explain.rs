//! `POST /api/v1/explain`: what a request would get, and why, on the live snapshot.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::reply::{error, reply};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainRequest {
    /// The listener; may be left out when there is only one.
    listener: Option<String>,
    #[serde(default = "default_method")]
    method: String,
    host: Option<String>,
    #[serde(default = "default_path")]
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    client: Option<String>,
}

/// The answer: the rule, the action, the group and target chosen, and why.
#[derive(Debug, Serialize)]
struct Explained {
    listener: String,
    rule: RuleRef,
    /// `forward`, `weighted-forward`, `redirect` or `fixed-response`.
    action: &'static str,
    target_group: Option<String>,
    target: Option<SocketAddr>,
    why: Vec<String>,
}

/// A rule by its priority, or the listener's default action.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum RuleRef {
    Priority(u32),
    Default(&'static str),
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_path() -> String {
    "/".to_owned()
}

pub(super) async fn explain(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, "Admin.InvalidExplainRequest", m);
    let query: ExplainRequest = match serde_json::from_slice(&body) {
        Ok(q) => q,
        Err(e) => return bad(&format!("expected {{\"listener\", \"method\", \"host\", \"path\", \"headers\", \"client\"}}: {e}")),
    };
    let listener = match query.listener {
        Some(l) => l,
        None => match app.runtime.config().listeners.as_slice() {
            [only] => only.name.to_string(),
            _ => return bad("\"listener\" is required when there is more than one listener"),
        },
    };
    let client: IpAddr = match query.client.as_deref().unwrap_or("127.0.0.1").parse() {
        Ok(c) => c,
        Err(_) => return bad("\"client\" must be an IP address"),
    };
    let mut request = http::Request::builder()
        .method(query.method.as_str())
        .uri(query.path.as_str());
    if let Some(host) = &query.host {
        request = request.header(http::header::HOST, host.as_str());
    }
    for (name, value) in &query.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = match request.body(()) {
        Ok(r) => r,
        Err(e) => return bad(&format!("not a valid request: {e}")),
    };
    match app.runtime.explain(&listener, &request, client) {
        Some(x) => reply(
            StatusCode::OK,
            &Explained {
                listener,
                rule: x
                    .rule
                    .map_or(RuleRef::Default("default"), RuleRef::Priority),
                action: x.action,
                target_group: x.target_group,
                target: x.target,
                why: x.why,
            },
        ),
        None => error(
            StatusCode::NOT_FOUND,
            "Admin.UnknownListener",
            &format!("no listener \"{listener}\" is serving"),
        ),
    }
}
