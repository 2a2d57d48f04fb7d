//! How the admin listener answers: JSON bodies from `Serialize` types, and one error envelope,
//! `{"error": {"code": ..., "message": ...}}`, for every error it sends, including those
//! axum makes itself (a method not allowed, a body too large, a bad path parameter).
//!
//! The lowest module of the crate: everything that answers imports it, it imports nothing
//! of the crate.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

/// The most of an error body made elsewhere (axum's rejections) kept as the message.
const MAX_FOREIGN_ERROR: usize = 16 * 1024;

/// The body of every error answer.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorEnvelope<'a> {
    /// What went wrong.
    pub(crate) error: ErrorBody<'a>,
}

/// A stable, machine-readable code and a sentence for people.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody<'a> {
    /// `Admin.*` or `Config.*`, as listed in docs/operations.md.
    pub(crate) code: &'a str,
    /// What happened and what to do.
    pub(crate) message: &'a str,
}

/// A JSON response.
pub(crate) fn reply<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => json_response(status, bytes),
        // Only a map with non-string keys fails, and no answer holds one.
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize an admin answer");
            let body = ErrorEnvelope {
                error: ErrorBody {
                    code: "Admin.Internal",
                    message: "the answer could not be serialized",
                },
            };
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            json_response(StatusCode::INTERNAL_SERVER_ERROR, bytes)
        }
    }
}

/// An error response in the envelope.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    reply(
        status,
        &ErrorEnvelope {
            error: ErrorBody { code, message },
        },
    )
}

fn json_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Puts every error response that is not JSON yet (axum's own 405, 413 and rejections)
/// into the envelope, keeping its status, its headers (`Allow`, `WWW-Authenticate`) and its
/// text as the message.
pub(crate) async fn envelope(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_FOREIGN_ERROR)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error"),
        text => text,
    };
    let wrapped = error(status, code_of(status), message);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.extend(wrapped.headers().clone());
    Response::from_parts(parts, wrapped.into_body())
}

/// The code of an error axum answered on its own, by status.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "Admin.NotFound",
        StatusCode::METHOD_NOT_ALLOWED => "Admin.MethodNotAllowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Admin.BodyTooLarge",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Admin.UnsupportedMediaType",
        s if s.is_client_error() => "Admin.BadRequest",
        _ => "Admin.Internal",
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt as _;

    use super::*;

    async fn call(router: Router, request: Request) -> (StatusCode, http::HeaderMap, String) {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn axum_errors_come_in_the_envelope() {
        let router = Router::new()
            .route("/x", get(|| async { "ok" }))
            .route(
                "/plain",
                get(|| async { (StatusCode::BAD_REQUEST, "bad thing") }),
            )
            .layer(axum::middleware::from_fn(envelope));
        let request = |method: &str, uri: &str| {
            Request::builder()
                .method(method)
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap()
        };

        let (status, headers, body) = call(router.clone(), request("POST", "/x")).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(headers.contains_key(http::header::ALLOW), "{headers:?}");
        assert_eq!(headers[http::header::CONTENT_TYPE], "application/json");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"]["code"], "Admin.MethodNotAllowed");
        assert_eq!(json["error"]["message"], "Method Not Allowed");

        let (status, _, body) = call(router.clone(), request("GET", "/plain")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"]["code"], "Admin.BadRequest");
        assert_eq!(json["error"]["message"], "bad thing");

        let (status, _, body) = call(router, request("GET", "/x")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }
}
