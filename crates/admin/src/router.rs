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

#[cfg(test)]
mod tests {
    use ballast_runtime::Runtime;
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn a_body_over_the_limit_without_a_length_is_413_in_the_envelope() {
        let config = ballast_config::parse("").unwrap();
        let runtime = Arc::new(Runtime::start(config).unwrap());
        let app = Arc::new(App::new(Arc::clone(&runtime), None));
        // Chunks of a stream: no Content-Length, so only the extractor's limit applies.
        let chunks = (0..=MAX_BODY_BYTES / 65_536)
            .map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; 65_536])));
        let request = Request::builder()
            .method("PUT")
            .uri("/api/v1/config")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from_stream(futures_util::stream::iter(
                chunks,
            )))
            .unwrap();
        let response = router(app).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "Admin.BodyTooLarge", "{json}");
        tokio::task::spawn_blocking(move || runtime.shutdown())
            .await
            .unwrap();
    }
}
