//! Bearer-token authentication of admin requests.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::App;
use crate::reply::error;

/// Paths a health checker reaches without a token: they reveal nothing but "alive/ready".
const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Paths that also accept the token as `?token=`: the dashboard page, which a browser opens
/// from a link, and its data, which `EventSource` fetches without a way to set headers (the
/// scaling groups, the DNS status, the firewall counts and the cluster the page polls are
/// fetched the same way). Read-only, so a token leaked through a URL cannot change the configuration
/// elsewhere.
const QUERY_TOKEN_PATHS: [&str; 7] = [
    "/",
    "/api/v1/stats",
    "/api/v1/events",
    "/api/v1/scaling-groups",
    "/api/v1/dns",
    "/api/v1/waf",
    "/api/v1/cluster",
];

/// The query string's `token` parameter (other parameters are ignored).
#[derive(Debug, serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Lets a request through when no token is configured, when it carries
/// `Authorization: Bearer <token>` (or, on the dashboard's paths, `?token=<token>`), or when
/// it asks for an open path; else 401. Then refuses what a web page could send on its own
/// (see [`refuse_foreign_host`] and [`refuse_form_media`]). The token comes first, so a
/// client without it learns nothing about what else is wrong with its request.
pub(crate) async fn require_token(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    match &app.token {
        None => {
            if let Some(refused) = refuse_foreign_host(&request) {
                return refused;
            }
        }
        Some(token) if !OPEN_PATHS.contains(&request.uri().path()) => {
            let presented = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .map(str::to_owned)
                .or_else(|| query_token(&request));
            if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes())) {
                return unauthorized();
            }
        }
        Some(_) => {}
    }
    if let Some(refused) = refuse_form_media(&request) {
        return refused;
    }
    next.run(request).await
}

fn unauthorized() -> Response {
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

/// The `?token=` of a dashboard path read with `GET` (or `HEAD`), percent-decoded; `None`
/// elsewhere, for another method, or when absent or malformed.
fn query_token(request: &Request) -> Option<String> {
    let read = matches!(*request.method(), http::Method::GET | http::Method::HEAD);
    if !read || !QUERY_TOKEN_PATHS.contains(&request.uri().path()) {
        return None;
    }
    axum::extract::Query::<TokenQuery>::try_from_uri(request.uri())
        .ok()
        .and_then(|q| q.0.token)
}

/// Media types a change may be sent as. A browser sends anything else (`text/plain`, a form)
/// cross-site without asking, so refusing them keeps a web page from driving a tokenless
/// admin API on localhost; these types need a CORS preflight, which this API never grants.
const CHANGE_TYPES: [&str; 3] = [
    "application/json",
    "application/json-patch+json",
    "application/toml",
];

/// Refuses a change with a media type a form can produce: a web page can send those
/// cross-site without the operator.
fn refuse_form_media(request: &Request) -> Option<Response> {
    let changes = !matches!(
        *request.method(),
        http::Method::GET | http::Method::HEAD | http::Method::DELETE
    );
    if !changes {
        return None;
    }
    let media = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if media.as_deref().is_some_and(|m| CHANGE_TYPES.contains(&m)) {
        return None;
    }
    Some(error(
        http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Admin.UnsupportedMediaType",
        "send changes as application/json, application/json-patch+json or application/toml",
    ))
}

/// Without a token, refuses a `Host` that is a name other than `localhost`: DNS rebinding
/// points a name at 127.0.0.1, so a web page could reach a tokenless admin API through it.
fn refuse_foreign_host(request: &Request) -> Option<Response> {
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if host.is_empty() || local_host(host) {
        return None;
    }
    Some(error(
        http::StatusCode::FORBIDDEN,
        "Admin.ForeignHost",
        "without a token, the admin API answers only to Host: localhost or an IP address",
    ))
}

/// `localhost` or an IP literal, with or without a port.
fn local_host(host: &str) -> bool {
    let name = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
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
        // The page polls the scaling groups' list; one group's path and the commands
        // under it still need the header.
        assert_eq!(
            token("/api/v1/scaling-groups?token=t").as_deref(),
            Some("t")
        );
        assert_eq!(token("/api/v1/scaling-groups/app?token=t"), None);
        assert_eq!(token("/api/v1/scaling-groups/app/desired?token=t"), None);
        // And the DNS status, which it polls too.
        assert_eq!(token("/api/v1/dns?token=t").as_deref(), Some("t"));
        // Reads only: a query token never carries a change, even to a dashboard path.
        let post = axum::extract::Request::builder()
            .method("POST")
            .uri("/api/v1/scaling-groups?token=t")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(super::query_token(&post), None);
    }

    #[test]
    fn only_local_hosts_pass() {
        for ok in [
            "localhost",
            "localhost:9901",
            "127.0.0.1:9901",
            "[::1]:9901",
            "10.0.0.1",
        ] {
            assert!(super::local_host(ok), "{ok}");
        }
        for bad in ["evil.example", "evil.example:9901", "127.0.0.1.nip.io"] {
            assert!(!super::local_host(bad), "{bad}");
        }
    }

    #[test]
    fn compares_tokens() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"abcd"));
    }
}
