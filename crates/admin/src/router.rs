//! The admin listener's whole router: the API's and the dashboard's routes side by side,
//! and around them, outermost first, the error envelope, the token and cross-site checks,
//! and the body size limit.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::Response;
use axum::Router;
use http::StatusCode;

use crate::app::App;
use crate::reply::{envelope, error};
use crate::{api, auth, dashboard};

/// Largest request body taken (a whole configuration document is far smaller); beyond it,
/// `413 Admin.BodyTooLarge`.
pub(crate) const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Every route, with its layers.
pub(crate) fn router(app: Arc<App>) -> Router {
    api::routes()
        .merge(dashboard::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn(declared_body_limit))
        .layer(from_fn_with_state(Arc::clone(&app), auth::require_token))
        .layer(from_fn(envelope))
        .with_state(app)
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Admin.NotFound",
        "no such endpoint; see /api/v1/openapi.json",
    )
}

/// Refuses a body whose declared length is over [`MAX_BODY_BYTES`] before reading any of
/// it, so the client gets its 413 instead of a connection reset mid-upload. A body sent
/// without a length is cut at the limit by the extractor (`DefaultBodyLimit`), in the same
/// envelope.
async fn declared_body_limit(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Admin.BodyTooLarge",
            &format!("the body is over the admin API's limit of {MAX_BODY_BYTES} bytes"),
        );
    }
    next.run(request).await
}
