//! The `/api/v1` routes, `/metrics`, `/healthz` and `/readyz`.

// The `Err` of the body parsers is the HTTP response itself, handed straight back to axum:
// boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use ballast_runtime::{ApplyError, Runtime, RuntimeError};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::diff::diff;
use crate::edit::{self, EditError};
use crate::App;

/// The OpenAPI 3.1 description of this API, served at `/api/v1/openapi.json`.
const OPENAPI: &str = include_str!("openapi.json");

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route(
            "/api/v1/config",
            get(get_config).put(put_config).patch(patch_config),
        )
        .route("/api/v1/reloads", get(reloads))
        .route("/api/v1/listeners", get(listeners))
        .route("/api/v1/listeners/{name}", get(listener))
        .route("/api/v1/listeners/{name}/rules", get(rules))
        .route(
            "/api/v1/listeners/{name}/rules/{priority}",
            put(put_rule).delete(delete_rule),
        )
        .route("/api/v1/target-groups", get(groups))
        .route(
            "/api/v1/target-groups/{name}",
            get(group).put(put_group).delete(delete_group),
        )
        .route(
            "/api/v1/target-groups/{name}/targets",
            get(targets).post(register),
        )
        .route(
            "/api/v1/target-groups/{name}/targets/{address}",
            axum::routing::delete(deregister),
        )
        .route("/api/v1/explain", post(explain))
        .route("/api/v1/certificates", get(certificates))
        .merge(crate::dashboard::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            crate::auth::require_token,
        ))
        .with_state(app)
}

/// A JSON response.
pub(crate) fn reply(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// An error response: `{"error": {"code": ..., "message": ...}}`.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    reply(status, json!({"error": {"code": code, "message": message}}))
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Admin.NotFound",
        "no such endpoint; see /api/v1/openapi.json",
    )
}

async fn healthz() -> Response {
    reply(StatusCode::OK, json!({"status": "alive"}))
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    let listeners = app.runtime.listeners();
    let expected = app.runtime.config().listeners.len();
    if app.runtime.is_stopping() {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ready": false, "reason": "draining"}),
        );
    }
    if listeners.len() != expected {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ready": false, "reason": "listeners not all bound"}),
        );
    }
    reply(
        StatusCode::OK,
        json!({"ready": true, "listeners": listeners.len()}),
    )
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut response = app.runtime.metrics_text().into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn openapi() -> Response {
    let mut response = OPENAPI.into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn get_config(State(app): State<Arc<App>>) -> Response {
    reply(StatusCode::OK, redact(app.runtime.document()))
}

/// What the API shows instead of a secret; sent back unchanged, it means "keep the current one".
const REDACTED: &str = "<redacted>";

/// Keys whose values are secrets, as paths in the document.
const SECRET_KEYS: [(&str, &str); 2] = [("admin", "token"), ("server", "stickiness_secret")];

/// The document with its secrets replaced by [`REDACTED`].
fn redact(mut document: Value) -> Value {
    for (table, key) in SECRET_KEYS {
        if let Some(value) = document.get_mut(table).and_then(|t| t.get_mut(key)) {
            *value = Value::from(REDACTED);
        }
    }
    document
}

/// Puts the running secrets back where a new document still says [`REDACTED`].
fn unredact(document: &mut Value, running: &Value) {
    for (table, key) in SECRET_KEYS {
        let Some(value) = document.get_mut(table).and_then(|t| t.get_mut(key)) else {
            continue;
        };
        if value.as_str() == Some(REDACTED) {
            *value = running[table][key].clone();
        }
    }
}

#[derive(Debug, Deserialize)]
struct DryRun {
    #[serde(default)]
    dry_run: bool,
}

/// Reads a body as JSON, or as TOML when the client says so.
fn document_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    let toml = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("toml"));
    if toml {
        let text = std::str::from_utf8(body).map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "Admin.MalformedBody",
                "the TOML body is not UTF-8",
            )
        })?;
        return ballast_config::raw::toml_to_json(text)
            .map_err(|errors| invalid(&ApplyError::Invalid(errors)));
    }
    json_body(body)
}

fn json_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "Admin.MalformedJson",
            &format!("the body is not valid JSON: {e}"),
        )
    })
}

/// 400 with every problem and its key path.
fn invalid(error: &ApplyError) -> Response {
    let (code, status) = match error {
        ApplyError::Invalid(_) => ("Config.Invalid", StatusCode::BAD_REQUEST),
        ApplyError::Runtime(_) => ("Config.NotApplicable", StatusCode::CONFLICT),
        ApplyError::Conflict { .. } => ("Config.Conflict", StatusCode::CONFLICT),
    };
    let errors: Vec<Value> = match error {
        ApplyError::Invalid(errors) => errors
            .errors()
            .iter()
            .map(|e| json!({"path": e.path.to_string(), "message": e.kind.to_string(), "text": e.to_string()}))
            .collect(),
        other => vec![json!({"path": "", "message": other.to_string(), "text": other.to_string()})],
    };
    reply(
        status,
        json!({"error": {"code": code, "message": "the configuration was not applied; the running one is unchanged"}, "errors": errors}),
    )
}

/// Validates and (unless a dry run) applies a whole new document; answers with the changes.
fn replace(app: &App, origin: &str, document: Value, dry_run: bool) -> Response {
    replace_if(app, origin, document, dry_run, None).unwrap_or_else(|e| invalid(&e))
}

/// [`replace`] if the running document is still at `expected`.
fn replace_if(
    app: &App,
    origin: &str,
    mut document: Value,
    dry_run: bool,
    expected: Option<u64>,
) -> Result<Response, ApplyError> {
    let before = app.runtime.document();
    unredact(&mut document, &before);
    let changes: Vec<_> = diff(&before, &document)
        .into_iter()
        .map(|mut c| {
            if SECRET_KEYS
                .iter()
                .any(|(t, k)| c.path == format!("{t}.{k}"))
            {
                c.before = c.before.map(|_| Value::from(REDACTED));
                c.after = c.after.map(|_| Value::from(REDACTED));
            }
            c
        })
        .collect();
    if dry_run {
        app.runtime.check_document(&document)?;
        return Ok(reply(
            StatusCode::OK,
            json!({"dry_run": true, "valid": true, "applied": false, "changes": changes}),
        ));
    }
    app.runtime.apply_document_if(origin, document, expected)?;
    Ok(reply(
        StatusCode::OK,
        json!({"dry_run": false, "valid": true, "applied": true, "changes": changes}),
    ))
}

async fn put_config(
    State(app): State<Arc<App>>,
    Query(q): Query<DryRun>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let document = match document_body(&headers, &body) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let _edit = app.edits.lock().await;
    replace(&app, "api", document, q.dry_run)
}

fn edit_failed(e: &EditError) -> Response {
    match e {
        EditError::NotFound(m) => error(StatusCode::NOT_FOUND, "Admin.NotFound", m),
        EditError::Invalid(m) => error(StatusCode::BAD_REQUEST, "Admin.InvalidChange", m),
    }
}

/// A partial change: `change` maps the running document to the new one. It applies only if
/// nothing changed the document meanwhile (a reload from the file, a deregistration); if
/// something did, it is made again from the new document, a few times.
async fn change(
    app: &App,
    dry_run: bool,
    change: impl Fn(&Value) -> Result<Value, EditError>,
) -> Response {
    let _edit = app.edits.lock().await;
    for _attempt in 0..3 {
        let (running, version) = app.runtime.versioned_document();
        let document = match change(&running) {
            Ok(document) => document,
            Err(e) => return edit_failed(&e),
        };
        match replace_if(app, "api", document, dry_run, Some(version)) {
            Err(ApplyError::Conflict { .. }) => continue,
            Err(e) => return invalid(&e),
            Ok(response) => return response,
        }
    }
    error(
        StatusCode::CONFLICT,
        "Config.Conflict",
        "the configuration kept changing while this change was made; try again",
    )
}

async fn patch_config(
    State(app): State<Arc<App>>,
    Query(q): Query<DryRun>,
    body: Bytes,
) -> Response {
    match json_body(&body) {
        Ok(ops) => change(&app, q.dry_run, |doc| edit::patch(doc, ops.clone())).await,
        Err(r) => r,
    }
}

async fn reloads(State(app): State<Arc<App>>) -> Response {
    reply(StatusCode::OK, reload_json(&app.runtime))
}

/// The reload status as JSON (also used by the dashboard).
pub(crate) fn reload_json(runtime: &Runtime) -> Value {
    let status = runtime.reload_status();
    let time = |t: std::time::SystemTime| humantime::format_rfc3339_millis(t).to_string();
    json!({
        "succeeded": status.succeeded,
        "failed": status.failed,
        "last_success": status.last_success.map(time),
        "last_attempt": status.last_attempt.as_ref().map(|(t, origin)| json!({"time": time(*t), "origin": origin})),
        "last_error": status.last_error,
    })
}

/// Every listener with its address and rules.
pub(crate) fn listeners_json(runtime: &Runtime) -> Vec<Value> {
    let config = runtime.config();
    let document = runtime.document();
    let bound = runtime.listeners();
    config
        .listeners
        .iter()
        .map(|l| {
            let address = bound
                .iter()
                .find(|(n, _)| *n == l.name)
                .map(|(_, a)| a.to_string());
            json!({
                "name": l.name.to_string(),
                "bind": l.bind.to_string(),
                "address": address,
                "protocol": if l.tls.is_some() { "https" } else { "http" },
                "rules": document["listeners"][&*l.name.0]["rules"].clone(),
                "default_action": document["listeners"][&*l.name.0]["default_action"].clone(),
            })
        })
        .collect()
}

async fn listeners(State(app): State<Arc<App>>) -> Response {
    reply(
        StatusCode::OK,
        json!({"listeners": listeners_json(&app.runtime)}),
    )
}

async fn listener(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    match listeners_json(&app.runtime)
        .into_iter()
        .find(|l| l["name"] == name.as_str())
    {
        Some(l) => reply(StatusCode::OK, l),
        None => error(
            StatusCode::NOT_FOUND,
            "Admin.UnknownListener",
            &format!("no listener \"{name}\""),
        ),
    }
}

async fn rules(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    match listeners_json(&app.runtime)
        .into_iter()
        .find(|l| l["name"] == name.as_str())
    {
        Some(l) => reply(StatusCode::OK, json!({"rules": l["rules"].clone()})),
        None => error(
            StatusCode::NOT_FOUND,
            "Admin.UnknownListener",
            &format!("no listener \"{name}\""),
        ),
    }
}

async fn put_rule(
    State(app): State<Arc<App>>,
    Path((name, priority)): Path<(String, u64)>,
    Query(q): Query<DryRun>,
    body: Bytes,
) -> Response {
    match json_body(&body) {
        Ok(rule) => {
            change(&app, q.dry_run, |doc| {
                edit::put_rule(doc, &name, priority, rule.clone())
            })
            .await
        }
        Err(r) => r,
    }
}

async fn delete_rule(
    State(app): State<Arc<App>>,
    Path((name, priority)): Path<(String, u64)>,
    Query(q): Query<DryRun>,
) -> Response {
    change(&app, q.dry_run, |doc| {
        edit::delete_rule(doc, &name, priority)
    })
    .await
}

/// Every target of a group with its health, as JSON.
pub(crate) fn targets_json(runtime: &Runtime, group: &str) -> Vec<Value> {
    runtime
        .target_health()
        .into_iter()
        .filter(|t| &*t.group.0 == group)
        .map(|t| {
            json!({
                "address": t.address.to_string(),
                "state": t.state.as_str(),
                "reason": t.reason.code(),
                "description": t.reason.description(),
                "in_flight": t.in_flight,
                "requests": t.requests,
                "ejected": t.ejected,
                "transitions": t.transitions,
                "last_check": t.last_check.map(|(at, passed)| json!({
                    "time": humantime::format_rfc3339_millis(at).to_string(),
                    "passed": passed,
                })),
            })
        })
        .collect()
}

/// Every group with its settings and targets.
pub(crate) fn groups_json(runtime: &Runtime) -> Vec<Value> {
    let document = runtime.document();
    runtime
        .config()
        .target_groups
        .iter()
        .map(|g| {
            json!({
                "name": g.name.to_string(),
                "algorithm": format!("{:?}", g.algorithm),
                "health_check": g.health_check.is_some(),
                "settings": document["target_groups"][&*g.name.0].clone(),
                "targets": targets_json(runtime, &g.name.0),
            })
        })
        .collect()
}

fn unknown_group(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Admin.UnknownTargetGroup",
        &format!("no target group \"{name}\""),
    )
}

async fn groups(State(app): State<Arc<App>>) -> Response {
    reply(
        StatusCode::OK,
        json!({"target_groups": groups_json(&app.runtime)}),
    )
}

async fn group(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    match groups_json(&app.runtime)
        .into_iter()
        .find(|g| g["name"] == name.as_str())
    {
        Some(g) => reply(StatusCode::OK, g),
        None => unknown_group(&name),
    }
}

async fn put_group(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(q): Query<DryRun>,
    body: Bytes,
) -> Response {
    match json_body(&body) {
        Ok(group) => {
            change(&app, q.dry_run, |doc| {
                edit::put_group(doc, &name, group.clone())
            })
            .await
        }
        Err(r) => r,
    }
}

async fn delete_group(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(q): Query<DryRun>,
) -> Response {
    change(&app, q.dry_run, |doc| edit::delete_group(doc, &name)).await
}

async fn targets(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    if app
        .runtime
        .config()
        .target_group(&ballast_config::GroupName::from(name.as_str()))
        .is_none()
    {
        return unknown_group(&name);
    }
    reply(
        StatusCode::OK,
        json!({"targets": targets_json(&app.runtime, &name)}),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    address: String,
}

fn runtime_error(e: &RuntimeError) -> Response {
    match e {
        RuntimeError::UnknownGroup { group, .. } => unknown_group(&group.0),
        RuntimeError::UnknownTarget { .. } => {
            error(StatusCode::NOT_FOUND, "Admin.UnknownTarget", &e.to_string())
        }
        _ => error(StatusCode::CONFLICT, "Admin.NotApplicable", &e.to_string()),
    }
}

fn parse_address(text: &str) -> Result<SocketAddr, Response> {
    text.parse().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "Admin.InvalidAddress",
            &format!("\"{text}\" is not an address IP:PORT such as \"127.0.0.1:8080\""),
        )
    })
}

async fn register(State(app): State<Arc<App>>, Path(name): Path<String>, body: Bytes) -> Response {
    let registration: Registration = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Admin.MalformedJson",
                &format!("expected {{\"address\": \"IP:PORT\"}}: {e}"),
            )
        }
    };
    let address = match parse_address(&registration.address) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match app.runtime.register_target(&name, address) {
        Ok(()) => reply(
            StatusCode::CREATED,
            json!({"registered": address.to_string(), "target_group": name}),
        ),
        Err(e) => runtime_error(&e),
    }
}

async fn deregister(
    State(app): State<Arc<App>>,
    Path((name, address)): Path<(String, String)>,
) -> Response {
    let address = match parse_address(&address) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match app.runtime.deregister_target(&name, address) {
        Ok(()) => reply(
            StatusCode::ACCEPTED,
            json!({"deregistering": address.to_string(), "target_group": name, "state": "draining"}),
        ),
        Err(e) => runtime_error(&e),
    }
}

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
    headers: std::collections::BTreeMap<String, String>,
    client: Option<String>,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_path() -> String {
    "/".to_owned()
}

async fn explain(State(app): State<Arc<App>>, body: Bytes) -> Response {
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
            json!({
                "listener": listener,
                "rule": x.rule.map_or_else(|| json!("default"), |p| json!(p)),
                "action": x.action,
                "target_group": x.target_group,
                "target": x.target.map(|t| t.to_string()),
                "why": x.why,
            }),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            "Admin.UnknownListener",
            &format!("no listener \"{listener}\" is serving"),
        ),
    }
}

/// Every ACME-managed certificate: domains, expiry, last issuance, last error, next check.
async fn certificates(State(app): State<Arc<App>>) -> Response {
    let time = |t: std::time::SystemTime| humantime::format_rfc3339_millis(t).to_string();
    let all: Vec<Value> = app
        .runtime
        .acme_status()
        .into_iter()
        .map(|(listener, s)| {
            json!({
                "listener": listener.to_string(),
                "source": "acme",
                "domains": s.domains,
                "not_after": s.not_after.map(time),
                "last_issued": s.last_issued.map(time),
                "last_error": s.last_error,
                "failures": s.failures,
                "next_check": s.next_check.map(time),
            })
        })
        .collect();
    reply(StatusCode::OK, json!({"certificates": all}))
}
