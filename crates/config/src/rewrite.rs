//! Header rewrites: fields a listener or rule sets, adds or removes on requests to targets
//! and responses to clients (the cloud load balancer's header modification), so HSTS, CORS
//! or security headers need no change to the targets.

/// One direction's rewrite. Applied in order: `remove` and `set` names are taken out of the
/// message, then `set` and `add` fields are written. A rule's rewrite applies after its
/// listener's: a rule's `set` or `remove` of a name overrides the listener's fields of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderRewrite {
    /// Fields written in place of any the message carries (name as written, value).
    pub set: Vec<(String, String)>,
    /// Fields written in addition to any the message carries.
    pub add: Vec<(String, String)>,
    /// Names taken out of the message.
    pub remove: Vec<String>,
}

impl HeaderRewrite {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// Names no rewrite may touch: framing and connection fields, which only Ballast writes
/// (a rewrite of them could desynchronise the two sides of a connection), and `Host`.
pub const PROTECTED_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Names only Ballast writes on requests to targets (forwarding facts a client must not
/// be able to forge, nor a rewrite replace).
pub const BALLAST_REQUEST_HEADERS: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-client-cert",
    "x-forwarded-tls-version",
    "x-forwarded-tls-cipher",
];

/// Most fields one rewrite table may name, all lists together.
pub const MAX_REWRITE_FIELDS: usize = 64;

/// Longest value a rewrite may write, in bytes.
pub const MAX_REWRITE_VALUE: usize = 8 * 1024;
