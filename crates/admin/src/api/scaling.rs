//! Scaling groups: their capacity, instances and activity history; an operator's desired
//! capacity, suspended processes and scale-in protection.

// The `Err` of the body parser is the HTTP response itself, handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use ballast_runtime::{ScalingCommand, ScalingCommandError, ScalingGroupStatus};
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

/// `PUT …/desired`'s body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Desired {
    desired: u32,
}

/// `POST …/suspend` and `…/resume`'s body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Processes {
    processes: Vec<String>,
}

/// `PUT …/instances/{instance}/protection`'s body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Protection {
    protected: bool,
}

/// The answer to a command: accepted, applied at the group's next sample.
#[derive(Debug, Serialize)]
struct Accepted<'a> {
    scaling_group: &'a str,
    accepted: &'a str,
    applied: &'static str,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "Admin.MalformedJson",
            &format!("expected {expected}: {e}"),
        )
    })
}

fn command(app: &App, name: &str, what: &str, command: ScalingCommand) -> Response {
    match app.runtime.scaling_command(name, command) {
        Ok(()) => reply(
            StatusCode::ACCEPTED,
            &Accepted {
                scaling_group: name,
                accepted: what,
                applied: "at the group's next sample, within 10 s",
            },
        ),
        Err(e @ ScalingCommandError::UnknownGroup(_)) => error(
            StatusCode::NOT_FOUND,
            "Admin.UnknownScalingGroup",
            &e.to_string(),
        ),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            "Admin.InvalidScalingCommand",
            &e.to_string(),
        ),
    }
}

/// `PUT /api/v1/scaling-groups/{name}/desired`: `{"desired": N}`, within the bounds.
pub(super) async fn set_desired(
    State(app): State<Arc<App>>,
    ApiPath(name): ApiPath<String>,
    body: Bytes,
) -> Response {
    match parse::<Desired>(&body, "{\"desired\": N}") {
        Ok(d) => command(
            &app,
            &name,
            "desired capacity",
            ScalingCommand::SetDesired(d.desired),
        ),
        Err(r) => r,
    }
}

/// `POST /api/v1/scaling-groups/{name}/suspend`: `{"processes": [...]}`.
pub(super) async fn suspend(
    State(app): State<Arc<App>>,
    ApiPath(name): ApiPath<String>,
    body: Bytes,
) -> Response {
    match parse::<Processes>(&body, "{\"processes\": [\"launch\", ...]}") {
        Ok(p) => command(
            &app,
            &name,
            "suspension",
            ScalingCommand::Suspend(p.processes),
        ),
        Err(r) => r,
    }
}

/// `POST /api/v1/scaling-groups/{name}/resume`: `{"processes": [...]}`.
pub(super) async fn resume(
    State(app): State<Arc<App>>,
    ApiPath(name): ApiPath<String>,
    body: Bytes,
) -> Response {
    match parse::<Processes>(&body, "{\"processes\": [\"launch\", ...]}") {
        Ok(p) => command(
            &app,
            &name,
            "resumption",
            ScalingCommand::Resume(p.processes),
        ),
        Err(r) => r,
    }
}

/// `PUT /api/v1/scaling-groups/{name}/instances/{instance}/protection`: `{"protected": true}`.
pub(super) async fn protect(
    State(app): State<Arc<App>>,
    ApiPath((name, instance)): ApiPath<(String, String)>,
    body: Bytes,
) -> Response {
    match parse::<Protection>(&body, "{\"protected\": true}") {
        Ok(p) => command(
            &app,
            &name,
            "scale-in protection",
            ScalingCommand::Protect {
                instance,
                protected: p.protected,
            },
        ),
        Err(r) => r,
    }
}
