//! How every change of the config document is made and answered: a whole new document, or
//! a partial change made from the running one (a rule, a group, a JSON Patch) that applies
//! only if the running document did not change meanwhile.

// The `Err` of the body readers is the HTTP response itself, handed straight back to axum:
// boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use axum::body::Bytes;
use axum::response::Response;
use ballast_config::{Change, ConfigErrors, Document, EditError, NameChanges};
use ballast_runtime::ApplyError;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::reply::{error, reply, ErrorBody};

/// Where changes made through the API come from, in reload records and logs.
const ORIGIN: &str = "api";

/// `?dry_run=true`: validate and show the changes without applying them.
#[derive(Debug, Deserialize)]
pub(super) struct DryRun {
    #[serde(default)]
    pub(super) dry_run: bool,
}

/// Why a partial change could not even be made to the document.
#[derive(Debug, thiserror::Error)]
pub(super) enum ChangeError {
    /// A typed edit refused (no such listener, rule, group; a malformed part).
    #[error(transparent)]
    Edit(#[from] EditError),
    /// The body is not an RFC 6902 JSON Patch.
    #[error("not a JSON Patch (RFC 6902) array: {0}")]
    NotAPatch(#[source] serde_json::Error),
    /// An operation of the patch does not apply (a path that does not exist, a failed `test`).
    #[error("patch does not apply: {0}")]
    PatchFailed(#[source] json_patch::PatchError),
    /// The result is not a config document; every problem with its key path.
    #[error("{0}")]
    Invalid(ConfigErrors),
}

/// The answer to a change: whether it applied, and what it changed.
#[derive(Debug, Serialize)]
struct Changed {
    dry_run: bool,
    valid: bool,
    applied: bool,
    /// Every changed key, with its values (secrets redacted).
    changes: Vec<Change>,
    /// Listeners added, removed or changed.
    listeners: NameChanges,
    /// Target groups added, removed or changed.
    target_groups: NameChanges,
}

/// The answer to a refused configuration: the envelope plus every problem.
#[derive(Debug, Serialize)]
struct Refused<'a> {
    error: ErrorBody<'a>,
    errors: Vec<Problem>,
}

/// One problem of a refused configuration.
#[derive(Debug, Serialize)]
struct Problem {
    /// The key path (empty when the problem is not about one key).
    path: String,
    /// What is wrong.
    message: String,
    /// Both, as one line.
    text: String,
}

/// The body as JSON.
pub(super) fn json_body(body: &Bytes) -> Result<serde_json::Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "Admin.MalformedJson",
            &format!("the body is not valid JSON: {e}"),
        )
    })
}

/// Answers a refused configuration: 400 with every problem and its key path, or 409.
pub(super) fn invalid(error: &ApplyError) -> Response {
    let (code, status) = match error {
        ApplyError::Invalid(_) => ("Config.Invalid", StatusCode::BAD_REQUEST),
        ApplyError::Runtime(_) => ("Config.NotApplicable", StatusCode::CONFLICT),
        ApplyError::Conflict { .. } | ApplyError::SharedConflict { .. } => {
            ("Config.Conflict", StatusCode::CONFLICT)
        }
        ApplyError::SharedUnavailable(_) => {
            ("Cluster.Unavailable", StatusCode::SERVICE_UNAVAILABLE)
        }
        ApplyError::SharedRefused(_) => ("Cluster.StoreRefused", StatusCode::BAD_GATEWAY),
        ApplyError::SharedNotApplied { .. } => ("Cluster.NotAppliedHere", StatusCode::CONFLICT),
    };
    let errors = match error {
        ApplyError::Invalid(errors) => errors
            .errors()
            .iter()
            .map(|e| Problem {
                path: e.path.to_string(),
                message: e.kind.to_string(),
                text: e.to_string(),
            })
            .collect(),
        other => vec![Problem {
            path: String::new(),
            message: other.to_string(),
            text: other.to_string(),
        }],
    };
    let message = match error {
        ApplyError::SharedNotApplied { .. } => {
            "the configuration was written to the cluster, but this node keeps running its previous one"
        }
        ApplyError::SharedUnavailable(_) => {
            "the change is not confirmed by the cluster's store; this node's configuration is unchanged"
        }
        _ => "the configuration was not applied; the running one is unchanged",
    };
    let refused = Refused {
        error: ErrorBody { code, message },
        errors,
    };
    reply(status, &refused)
}

/// Answers a configuration refused before it reached the runtime (it is not a document),
/// counting it as a refused reload unless it was a dry run, as the runtime counts the ones
/// that do not validate.
pub(super) fn not_a_document(app: &App, errors: ConfigErrors, dry_run: bool) -> Response {
    let refused = ApplyError::Invalid(errors);
    if !dry_run {
        app.runtime.refuse(ORIGIN, &refused.messages());
    }
    invalid(&refused)
}

/// What a change was made from: the running document's version on this node, and (in a
/// cluster) the shared document's revision a client read (`If-Match`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct MadeFrom {
    pub(super) version: Option<u64>,
    pub(super) revision: Option<i64>,
}

/// Validates and (unless a dry run) applies `document`, made from `running`; answers with
/// the changes. In a cluster the document is written to the shared store first (unless it
/// changed since), and applies on every node.
pub(super) async fn replace(
    app: &App,
    running: &Document,
    mut document: Document,
    dry_run: bool,
    from: MadeFrom,
) -> Result<Response, ApplyError> {
    document.unredact(running);
    let diff = if dry_run {
        app.runtime.check_document(&document)?;
        running.diff(&document)
    } else if let Some(shared) = app.runtime.shared_document() {
        app.runtime.check_document(&document)?;
        shared
            .publish(document, from.revision, from.version)
            .await?
    } else {
        app.runtime
            .apply_document_if(ORIGIN, document, from.version)?
    };
    let changed = Changed {
        dry_run,
        valid: true,
        applied: !dry_run,
        changes: diff.changes,
        listeners: diff.listeners,
        target_groups: diff.target_groups,
    };
    Ok(reply(StatusCode::OK, &changed))
}

/// A partial change: `edit` changes a copy of the running document. It applies only if
/// nothing changed the document meanwhile (a reload from the file, a deregistration); if
/// something did, it is made again from the new document, a few times.
pub(super) async fn change(
    app: &App,
    dry_run: bool,
    edit: impl Fn(&mut Document) -> Result<(), ChangeError>,
) -> Response {
    let _edit = app.edits.lock().await;
    for _attempt in 0..3 {
        let (running, version) = app.runtime.versioned_document();
        let mut document = running.clone();
        if let Err(e) = edit(&mut document) {
            return refused(app, e, dry_run);
        }
        let from = MadeFrom {
            version: Some(version),
            revision: None,
        };
        match replace(app, &running, document, dry_run, from).await {
            Err(ApplyError::Conflict { .. }) => continue,
            // Another node's change is on its way here: made again from it once it came.
            Err(ApplyError::SharedConflict { .. }) => {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                continue;
            }
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

/// Applies an RFC 6902 JSON Patch to `document` (a transaction: every operation or none).
pub(super) fn patch(
    document: &mut Document,
    operations: &serde_json::Value,
) -> Result<(), ChangeError> {
    let patch: json_patch::Patch =
        serde_json::from_value(operations.clone()).map_err(ChangeError::NotAPatch)?;
    let mut json = document.to_json();
    json_patch::patch(&mut json, &patch).map_err(ChangeError::PatchFailed)?;
    *document = Document::from_json(&json).map_err(ChangeError::Invalid)?;
    Ok(())
}

/// Answers a change that could not be made, by what was wrong.
fn refused(app: &App, e: ChangeError, dry_run: bool) -> Response {
    let (status, code) = match &e {
        ChangeError::Edit(EditError::Malformed { errors }) | ChangeError::Invalid(errors) => {
            return not_a_document(app, errors.clone(), dry_run)
        }
        ChangeError::Edit(EditError::NoListener { .. }) => {
            (StatusCode::NOT_FOUND, "Admin.UnknownListener")
        }
        ChangeError::Edit(EditError::NoRule { .. }) => (StatusCode::NOT_FOUND, "Admin.UnknownRule"),
        ChangeError::Edit(EditError::NoTargetGroup { .. }) => {
            (StatusCode::NOT_FOUND, "Admin.UnknownTargetGroup")
        }
        ChangeError::Edit(EditError::NoTarget { .. }) => {
            (StatusCode::NOT_FOUND, "Admin.UnknownTarget")
        }
        ChangeError::Edit(EditError::PriorityMismatch { .. })
        | ChangeError::NotAPatch(_)
        | ChangeError::PatchFailed(_) => (StatusCode::BAD_REQUEST, "Admin.InvalidChange"),
    };
    error(status, code, &e.to_string())
}
