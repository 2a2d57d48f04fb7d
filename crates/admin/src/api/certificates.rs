//! `GET /api/v1/certificates`: every ACME-managed certificate.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::Serialize;

use crate::app::App;
use crate::reply::reply;
use crate::views::time;

#[derive(Debug, Serialize)]
struct Certificates {
    certificates: Vec<CertificateView>,
}

/// One listener's ACME certificate: domains, expiry, last issuance, last error, next check.
#[derive(Debug, Serialize)]
struct CertificateView {
    listener: String,
    /// Where it comes from (only `acme` is listed).
    source: &'static str,
    domains: Vec<String>,
    not_after: Option<String>,
    last_issued: Option<String>,
    last_error: Option<String>,
    /// Attempts failed in a row.
    failures: u32,
    next_check: Option<String>,
}

pub(super) async fn certificates(State(app): State<Arc<App>>) -> Response {
    let certificates = app
        .runtime
        .acme_status()
        .into_iter()
        .map(|(listener, s)| CertificateView {
            listener: listener.to_string(),
            source: "acme",
            domains: s.domains,
            not_after: s.not_after.map(time),
            last_issued: s.last_issued.map(time),
            last_error: s.last_error,
            failures: s.failures,
            next_check: s.next_check.map(time),
        })
        .collect();
    reply(StatusCode::OK, &Certificates { certificates })
}
