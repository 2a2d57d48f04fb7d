//! The config document: read it (secrets redacted), replace it whole, patch it, and the
//! reload status.

// The `Err` of the body reader is the HTTP response itself, handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use ballast_config::{ConfigErrors, Document};
use http::{HeaderMap, StatusCode};

use super::change::{change, invalid, json_body, not_a_document, patch, replace, DryRun, MadeFrom};
use crate::app::App;
use crate::extract::ApiQuery;
use crate::reply::{error, reply};
use crate::views;

/// The document (secrets redacted); in a cluster, its revision as the `ETag`, for a
/// `PUT` with `If-Match` that must not undo another node's change.
pub(super) async fn get_config(State(app): State<Arc<App>>) -> Response {
    let mut response = reply(StatusCode::OK, &app.runtime.document().redacted());
    if let Some(status) = app.runtime.cluster_status() {
        let tag = format!("\"{}\"", status.config_revision);
        if let Ok(value) = http::HeaderValue::from_str(&tag) {
            response.headers_mut().insert(http::header::ETAG, value);
        }
    }
    response
}

/// The revision an `If-Match` names (`"12"`, `W/"12"` or `12`; `*` names any); `Err` when
/// it names none.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, Response> {
    let Some(value) = headers.get(http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    // `*`: whatever revision is there (as without the header).
    if text == "*" {
        return Ok(None);
    }
    let tag = text.trim_start_matches("W/").trim_matches('"');
    tag.parse::<i64>().map(Some).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "Admin.InvalidIfMatch",
            "If-Match must hold the revision an ETag of GET /api/v1/config gave (\"12\")",
        )
    })
}

/// Reads a body as JSON, or as TOML when the client says so: a document, or every problem
/// that keeps it from being one (with key paths); `Err` when it is not even JSON or text.
fn document_body(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Result<Document, ConfigErrors>, Response> {
    let toml = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("toml"));
    let parsed = if toml {
        let text = std::str::from_utf8(body).map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "Admin.MalformedBody",
                "the TOML body is not UTF-8",
            )
        })?;
        Document::from_toml(text)
    } else {
        Document::from_json(&json_body(body)?)
    };
    Ok(parsed)
}

pub(super) async fn put_config(
    State(app): State<Arc<App>>,
    ApiQuery(q): ApiQuery<DryRun>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let document = match document_body(&headers, &body) {
        Ok(Ok(d)) => d,
        Ok(Err(errors)) => return not_a_document(&app, errors, q.dry_run),
        Err(r) => return r,
    };
    let revision = match if_match(&headers) {
        Ok(revision) => revision,
        Err(r) => return r,
    };
    let _edit = app.edits.lock().await;
    let running = app.runtime.document();
    let from = MadeFrom {
        version: None,
        revision,
    };
    replace(&app, &running, document, q.dry_run, from)
        .await
        .unwrap_or_else(|e| invalid(&e))
}

pub(super) async fn patch_config(
    State(app): State<Arc<App>>,
    ApiQuery(q): ApiQuery<DryRun>,
    body: Bytes,
) -> Response {
    match json_body(&body) {
        Ok(operations) => change(&app, q.dry_run, |doc| patch(doc, &operations)).await,
        Err(r) => r,
    }
}

pub(super) async fn reloads(State(app): State<Arc<App>>) -> Response {
    reply(StatusCode::OK, &views::reloads(&app.runtime))
}
