//! The raw shape of listener rules and of the non-forward actions.

use serde::{Deserialize, Serialize};

/// `[[listeners.NAME.rules]]`: one prioritised rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// 1 to 50000, unique per listener; lower is evaluated first.
    pub priority: i64,
    /// What a request must match (every kind given; any value of a kind).
    pub conditions: RawConditions,
    /// What happens to a matching request.
    pub action: super::RawAction,
    /// Fields set, added or removed on matching requests (after the listener's).
    pub request_headers: Option<super::RawHeaderRewrite>,
    /// Fields set, added or removed on their responses (after the listener's).
    pub response_headers: Option<super::RawHeaderRewrite>,
    /// The `[rate_limits]` entry matching requests are counted against (after the
    /// listener's).
    pub rate_limit: Option<String>,
    /// The `[waf]` rule set matching requests meet (after the listener's).
    pub waf: Option<String>,
}

/// `conditions = { ... }` of a rule.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConditions {
    /// Host globs (`*.example.com`), case-insensitive, port ignored.
    pub host: Option<Vec<String>>,
    /// Path globs (`/api/*`), case-sensitive, path only.
    pub path: Option<Vec<String>>,
    /// Header conditions: a name and value globs.
    pub header: Option<Vec<RawHeaderCondition>>,
    /// Methods, exact.
    pub method: Option<Vec<String>>,
    /// Query conditions: a key and value globs.
    pub query: Option<Vec<RawQueryCondition>>,
    /// Client address blocks (CIDR).
    pub source_ip: Option<Vec<String>>,
    /// TLS server names (`tcp` listeners): exact names or `*.` wildcards.
    pub sni: Option<Vec<String>>,
    /// ALPN protocols offered by the TLS client (`tcp` listeners).
    pub alpn: Option<Vec<String>>,
}

/// `{ name = "X-Canary", values = ["1", "yes"] }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderCondition {
    /// Header name, case-insensitive.
    pub name: String,
    /// Value globs, case-insensitive; any may match.
    pub values: Vec<String>,
}

/// `{ key = "version", values = ["2*"] }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueryCondition {
    /// Query parameter name.
    pub key: String,
    /// Value globs; any may match.
    pub values: Vec<String>,
}

/// `redirect = { status = 301, protocol = "https", ... }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedirect {
    /// 301, 302, 307 or 308.
    pub status: Option<i64>,
    /// `http`, `https` or `#{protocol}`.
    pub protocol: Option<String>,
    /// Host template.
    pub host: Option<String>,
    /// Port template.
    pub port: Option<String>,
    /// Path template.
    pub path: Option<String>,
    /// Query template (without `?`).
    pub query: Option<String>,
}

/// `fixed_response = { status = 503, content_type = "text/plain", body = "..." }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFixedResponse {
    /// A 2xx, 4xx or 5xx status.
    pub status: i64,
    /// Content type of the body.
    pub content_type: Option<String>,
    /// The body, up to 1 KiB.
    pub body: Option<String>,
}

/// `tls = { ... }` of an `https` listener.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawListenerTls {
    /// Certificate chains and keys; the first is the default. May be left out with `acme`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<RawCertificate>,
    /// Security policy name.
    pub policy: Option<String>,
    /// Mutual TLS.
    pub client_certificates: Option<RawClientCertificates>,
    /// Certificates obtained and renewed automatically from an ACME directory.
    pub acme: Option<RawAcme>,
}

/// `[listeners.NAME.tls.acme]`: automatic certificates (RFC 8555).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAcme {
    /// The ACME directory URL (`https://...`).
    pub directory: String,
    /// DNS names the certificate covers (one certificate for all of them).
    pub domains: Vec<String>,
    /// Account contacts (`mailto:` URLs).
    pub contact: Option<Vec<String>>,
    /// Directory holding accounts, certificates and keys.
    pub storage: Option<String>,
    /// `http-01` (default) or `tls-alpn-01`.
    pub challenge: Option<String>,
    /// Renew when the certificate expires within this long.
    pub renew_before: Option<String>,
    /// CA bundle trusted for the directory's HTTPS instead of the system's roots.
    pub ca: Option<String>,
}

/// `{ cert = "site.pem", key = "site.key" }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    /// PEM certificate chain, leaf first.
    pub cert: String,
    /// PEM private key.
    pub key: String,
}

/// `client_certificates = { mode = "verify", ca = "clients-ca.pem" }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawClientCertificates {
    /// `verify` (default) or `passthrough`.
    pub mode: Option<String>,
    /// CA bundle client certificates must chain to.
    pub ca: Option<String>,
}

/// `tls = { ... }` of an `https` target group.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTargetTls {
    /// Verify target certificates (default `true`).
    pub verify: Option<bool>,
    /// CA bundle to verify against instead of the system's roots.
    pub ca: Option<String>,
    /// Name to send as SNI and expect in the certificate.
    pub server_name: Option<String>,
}
