//! Listeners and their rules: read them, put or delete one rule by priority.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use ballast_config::raw::RawRule;
use ballast_config::Sparse;
use http::StatusCode;
use serde::Serialize;

use super::change::{change, json_body, ChangeError, DryRun};
use crate::app::App;
use crate::extract::{ApiPath, ApiQuery};
use crate::reply::{error, reply};
use crate::views::{self, ListenerView};

#[derive(Debug, Serialize)]
struct Listeners {
    listeners: Vec<ListenerView>,
}

#[derive(Debug, Serialize)]
struct Rules {
    rules: Sparse<Vec<RawRule>>,
}

fn unknown_listener(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Admin.UnknownListener",
        &format!("no listener \"{name}\""),
    )
}

fn find(app: &App, name: &str) -> Option<ListenerView> {
    views::listeners(&app.runtime)
        .into_iter()
        .find(|l| l.name == name)
}

pub(super) async fn listeners(State(app): State<Arc<App>>) -> Response {
    let listeners = views::listeners(&app.runtime);
    reply(StatusCode::OK, &Listeners { listeners })
}

pub(super) async fn listener(
    State(app): State<Arc<App>>,
    ApiPath(name): ApiPath<String>,
) -> Response {
    match find(&app, &name) {
        Some(l) => reply(StatusCode::OK, &l),
        None => unknown_listener(&name),
    }
}

pub(super) async fn rules(State(app): State<Arc<App>>, ApiPath(name): ApiPath<String>) -> Response {
    match find(&app, &name) {
        Some(l) => reply(StatusCode::OK, &Rules { rules: l.rules }),
        None => unknown_listener(&name),
    }
}

pub(super) async fn put_rule(
    State(app): State<Arc<App>>,
    ApiPath((name, priority)): ApiPath<(String, i64)>,
    ApiQuery(q): ApiQuery<DryRun>,
    body: Bytes,
) -> Response {
    match json_body(&body) {
        Ok(rule) => {
            change(&app, q.dry_run, |doc| {
                doc.put_rule_json(&name, priority, &rule)
                    .map(drop)
                    .map_err(ChangeError::from)
            })
            .await
        }
        Err(r) => r,
    }
}

pub(super) async fn delete_rule(
    State(app): State<Arc<App>>,
    ApiPath((name, priority)): ApiPath<(String, i64)>,
    ApiQuery(q): ApiQuery<DryRun>,
) -> Response {
    change(&app, q.dry_run, |doc| {
        doc.delete_rule(&name, priority)
            .map(drop)
            .map_err(ChangeError::from)
    })
    .await
}
