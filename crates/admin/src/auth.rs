//! Bearer-token authentication of admin requests.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::api::error;
use crate::App;

/// Paths a health checker reaches without a token: they reveal nothing but "alive/ready".
const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Paths that also accept the token as `?token=`: the dashboard page, which a browser opens
/// from a link, and its data, which `EventSource` fetches without a way to set headers.
/// Read-only, so a token leaked through a URL cannot change the configuration elsewhere.
const QUERY_TOKEN_PATHS: [&str; 3] = ["/", "/api/v1/stats", "/api/v1/events"];

/// The query string's `token` parameter (other parameters are ignored).
#[derive(Debug, serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Lets a request through when no token is configured, when it carries
/// `Authorization: Bearer <token>` (or, on the dashboard's paths, `?token=<token>`), or when
/// it asks for an open path; else 401.
pub(crate) async fn require_token(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &app.token else {
        return next.run(request).await;
    };
    if OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_owned)
        .or_else(|| query_token(&request));
    match presented {
        Some(p) if constant_time_eq(p.as_bytes(), token.as_bytes()) => next.run(request).await,
        _ => {
            let mut response = error(
                http::StatusCode::UNAUTHORIZED,
                "Admin.Unauthorized",
                "this admin API requires Authorization: Bearer <token> (the dashboard also takes ?token=<token>)",
            );
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

/// The `?token=` of a dashboard path, percent-decoded; `None` elsewhere or when absent or
/// malformed.
fn query_token(request: &Request) -> Option<String> {
    if !QUERY_TOKEN_PATHS.contains(&request.uri().path()) {
        return None;
    }
    axum::extract::Query::<TokenQuery>::try_from_uri(request.uri())
        .ok()
        .and_then(|q| q.0.token)
}

/// Compares without an early exit, so response time does not reveal how much of a guess
/// was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    fn request(uri: &str) -> axum::extract::Request {
        axum::extract::Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    #[test]
    fn the_dashboard_paths_take_a_query_token() {
        let token = |uri: &str| super::query_token(&request(uri));
        assert_eq!(token("/?token=s3cret").as_deref(), Some("s3cret"));
        assert_eq!(
            token("/api/v1/events?x=1&token=a%2Bb%26c").as_deref(),
            Some("a+b&c")
        );
        assert_eq!(token("/api/v1/stats?token=t").as_deref(), Some("t"));
        assert_eq!(token("/api/v1/stats"), None);
        assert_eq!(
            token("/api/v1/config?token=t"),
            None,
            "only the dashboard's paths"
        );
        assert_eq!(token("/metrics?token=t"), None);
    }

    #[test]
    fn compares_tokens() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"abcd"));
    }
}
