//! Target groups and their targets: read them, put or delete a group, register and
//! deregister a target.

// The `Err` of the address parser is the HTTP response itself, handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use ballast_config::GroupName;
use ballast_runtime::{RegistrationError, RuntimeError};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::change::{change, json_body, ChangeError, DryRun};
use crate::app::App;
use crate::extract::{ApiPath, ApiQuery};
use crate::reply::{error, reply};
use crate::views::{self, GroupView, TargetView};

#[derive(Debug, Serialize)]
struct Groups {
    target_groups: Vec<GroupView>,
}

#[derive(Debug, Serialize)]
struct Targets {
    targets: Vec<TargetView>,
}

/// `POST …/targets`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    address: String,
}

/// The answer to a registration.
#[derive(Debug, Serialize)]
struct Registered {
    registered: SocketAddr,
    target_group: String,
}

/// The answer to a deregistration: the target drains.
#[derive(Debug, Serialize)]
struct Deregistering {
    deregistering: SocketAddr,
    target_group: String,
    state: &'static str,
}

fn unknown_group(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Admin.UnknownTargetGroup",
        &format!("no target group \"{name}\""),
    )
}

pub(super) async fn groups(State(app): State<Arc<App>>) -> Response {
    let target_groups = views::groups(&app.runtime);
    reply(StatusCode::OK, &Groups { target_groups })
}

pub(super) async fn group(State(app): State<Arc<App>>, ApiPath(name): ApiPath<String>) -> Response {
    match views::groups(&app.runtime)
        .into_iter()
        .find(|g| g.name == name)
    {
        Some(g) => reply(StatusCode::OK, &g),
        None => unknown_group(&name),
    }
}

pub(super) async fn put_group(
    State(app): State<Arc<App>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DryRun>,
    body: Bytes,
) -> Response {
    match json_body(&body) {
        Ok(group) => {
            change(&app, q.dry_run, |doc| {
                doc.put_target_group_json(&name, &group)
                    .map(drop)
                    .map_err(ChangeError::from)
            })
            .await
        }
        Err(r) => r,
    }
}

pub(super) async fn delete_group(
    State(app): State<Arc<App>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DryRun>,
) -> Response {
    change(&app, q.dry_run, |doc| {
        doc.delete_target_group(&name)
            .map(drop)
            .map_err(ChangeError::from)
    })
    .await
}

pub(super) async fn targets(
    State(app): State<Arc<App>>,
    ApiPath(name): ApiPath<String>,
) -> Response {
    let known = app
        .runtime
        .config()
        .target_group(&GroupName::from(name.as_str()))
        .is_some();
    if !known {
        return unknown_group(&name);
    }
    let targets = views::targets(&app.runtime, &name);
    reply(StatusCode::OK, &Targets { targets })
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

fn registration_error(e: &RegistrationError) -> Response {
    match e {
        RegistrationError::Runtime(e) => runtime_error(e),
        RegistrationError::Unavailable(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Cluster.Unavailable",
            &e.to_string(),
        ),
        RegistrationError::InDocument { .. } => error(
            StatusCode::CONFLICT,
            "Cluster.TargetInDocument",
            &e.to_string(),
        ),
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

pub(super) async fn register(
    State(app): State<Arc<App>>,
    ApiPath(name): ApiPath<String>,
    body: Bytes,
) -> Response {
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
    // In a cluster the registration is shared: every node registers the target.
    let registered = match app.runtime.shared_document() {
        Some(shared) => shared.register(name.clone(), address, None).await,
        None => app
            .runtime
            .register_target(&name, address)
            .map_err(Into::into),
    };
    match registered {
        Ok(()) => reply(
            StatusCode::CREATED,
            &Registered {
                registered: address,
                target_group: name,
            },
        ),
        Err(e) => registration_error(&e),
    }
}

pub(super) async fn deregister(
    State(app): State<Arc<App>>,
    ApiPath((name, address)): ApiPath<(String, String)>,
) -> Response {
    let address = match parse_address(&address) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let deregistered = match app.runtime.shared_document() {
        Some(shared) => shared.deregister(name.clone(), address).await,
        None => app
            .runtime
            .deregister_target(&name, address)
            .map_err(Into::into),
    };
    match deregistered {
        Ok(()) => reply(
            StatusCode::ACCEPTED,
            &Deregistering {
                deregistering: address,
                target_group: name,
                state: "draining",
            },
        ),
        Err(e) => registration_error(&e),
    }
}
