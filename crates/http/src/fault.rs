//! The fault model: every failure on the request path becomes one [`Fault`], and this module
//! alone decides its status (as a cloud load balancer would), whether the client connection
//! closes, how loudly it is logged, its reason code, and whether another target may be
//! tried.

use ballast_telemetry::LogLimiter;

use crate::codec::{ChunkError, HeadError, ResponseError};

/// Who caused a failure; decides the status class, the log level and whether the target's
/// health is affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The client sent something we refuse.
    Client,
    /// The target group or a target failed us.
    Target,
    /// Ballast itself ran out of something (file descriptors): nobody else's fault.
    Ballast,
}

/// A failure on the request path.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fault {
    /// The request head was refused by the HTTP/1 parser or its framing rules.
    #[error("{0}")]
    Head(#[from] HeadError),
    /// The request body was malformed, or the client stopped mid-body.
    #[error("invalid request body: {0}")]
    BadRequestBody(#[source] BodyError),
    /// The client stopped sending its request body for longer than the response timeout.
    #[error("client stopped sending the request body")]
    ClientBodyTimeout,
    /// The client sent its request body slower than the listener's
    /// `min_request_body_rate` (a slow POST).
    #[error("client sent the request body slower than the minimum rate")]
    ClientBodyTooSlow,
    /// The client did not send its whole request within the listener's `request_timeout`.
    #[error("client did not send the whole request within the request timeout")]
    RequestTimeout,
    /// The group has no target to send to.
    #[error("target group has no target to send to")]
    NoTarget,
    /// The group has targets, but none may take traffic and it does not fail open.
    #[error("no target of the group may take traffic (fail_open is off)")]
    NoHealthyTarget,
    /// Connecting to the target failed, or Ballast could not open a socket.
    #[error("{0}")]
    Connect(#[source] ConnectError),
    /// The target closed or reset the connection before a complete response head (`None`:
    /// a clean close).
    #[error("target closed the connection{}", .0.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    TargetClosed(Option<std::io::Error>),
    /// The target's response could not be parsed.
    #[error("invalid response from target: {0}")]
    InvalidResponse(#[source] ResponseError),
    /// The target did not start its response within the group's response timeout.
    #[error("target did not respond within the response timeout")]
    ResponseTimeout,
}

/// Why a new connection to a target could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The target did not accept within the connect timeout.
    #[error("connect timed out")]
    Timeout,
    /// The operating system refused or failed the connection.
    #[error("connect failed: {0}")]
    Io(#[source] std::io::Error),
    /// The TLS handshake with the target failed (its certificate did not verify, or it
    /// does not speak TLS).
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    /// Ballast itself is out of file descriptors (its budget, or the system's): not the
    /// target's doing.
    #[error("out of file descriptors or socket memory")]
    Exhausted(#[source] Option<std::io::Error>),
}

/// What went wrong with a request body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Bad chunked framing.
    #[error("{0}")]
    Chunked(#[from] ChunkError),
    /// The client closed the connection before the whole body arrived.
    #[error("client closed the connection mid-body")]
    Closed,
    /// Reading from the client failed.
    #[error("reading from the client failed: {0}")]
    Io(#[source] std::io::Error),
    /// An HTTP/2 client's body stream failed.
    #[error("request body stream failed: {0}")]
    Stream(#[source] hyper::Error),
}

/// What a retry of a failed attempt costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// The target refused the connection: it did no work, so the retry is free (HAProxy's
    /// `redispatch` has no budget at all).
    Free,
    /// The target may have done work: the retry spends the group's budget.
    Budgeted,
}

/// The response Ballast sends for a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) reason: &'static str,
    /// A one-line `text/plain` body.
    pub(crate) body: &'static [u8],
    /// Whether the client connection closes after it.
    pub(crate) close: bool,
}

static CLIENT_LOG: LogLimiter = LogLimiter::new(10);
static TARGET_LOG: LogLimiter = LogLimiter::new(10);
static BALLAST_LOG: LogLimiter = LogLimiter::new(10);

impl Fault {
    /// Who is to blame.
    pub(crate) fn side(&self) -> Side {
        match self {
            Fault::Head(_)
            | Fault::BadRequestBody(_)
            | Fault::ClientBodyTimeout
            | Fault::ClientBodyTooSlow
            | Fault::RequestTimeout => Side::Client,
            Fault::Connect(ConnectError::Exhausted(_)) => Side::Ballast,
            _ => Side::Target,
        }
    }

    /// The status the client receives.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Fault::Head(HeadError::TooLarge | HeadError::TooManyFields) => 431,
            Fault::Head(HeadError::UriTooLong) => 414,
            Fault::Head(HeadError::Connect) => 405,
            Fault::Head(_) | Fault::BadRequestBody(_) => 400,
            Fault::ClientBodyTimeout | Fault::ClientBodyTooSlow | Fault::RequestTimeout => 408,
            Fault::NoTarget | Fault::NoHealthyTarget => 503,
            Fault::Connect(ConnectError::Exhausted(_)) => 503,
            Fault::Connect(ConnectError::Timeout) | Fault::ResponseTimeout => 504,
            Fault::Connect(_) | Fault::TargetClosed(_) | Fault::InvalidResponse(_) => 502,
        }
    }

    /// A stable code for logs and metrics, in the style of cloud load balancers' reasons.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Fault::Head(e) => match e {
                HeadError::Malformed(_) => "Client.MalformedRequest",
                HeadError::TooLarge => "Client.HeaderTooLarge",
                HeadError::TooManyFields => "Client.TooManyHeaders",
                HeadError::UriTooLong => "Client.UriTooLong",
                HeadError::Desync(_) => "Client.Desync",
                HeadError::BadTransferEncoding => "Client.BadTransferEncoding",
                HeadError::MissingHost => "Client.MissingHost",
                HeadError::InvalidHost => "Client.InvalidHost",
                HeadError::BadTarget => "Client.InvalidRequestTarget",
                HeadError::Connect => "Client.MethodNotAllowed",
            },
            Fault::BadRequestBody(_) => "Client.InvalidBody",
            Fault::ClientBodyTimeout => "Client.BodyTimeout",
            Fault::ClientBodyTooSlow => "Client.BodyTooSlow",
            Fault::RequestTimeout => "Client.RequestTimeout",
            Fault::NoTarget => "Group.NoTarget",
            Fault::NoHealthyTarget => "Group.NoHealthyTarget",
            Fault::Connect(ConnectError::Exhausted(_)) => "Ballast.ResourceExhausted",
            Fault::Connect(ConnectError::Timeout) => "Target.ConnectTimeout",
            Fault::Connect(ConnectError::Io(e)) => match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "Target.ConnectionRefused",
                std::io::ErrorKind::ConnectionReset => "Target.ConnectionReset",
                _ => "Target.ConnectFailed",
            },
            Fault::Connect(ConnectError::Tls(_)) => "Target.TlsHandshakeFailed",
            Fault::TargetClosed(Some(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                "Target.ConnectionReset"
            }
            Fault::TargetClosed(_) => "Target.ConnectionClosed",
            Fault::InvalidResponse(_) => "Target.InvalidResponse",
            Fault::ResponseTimeout => "Target.ResponseTimeout",
        }
    }

    /// Whether the client connection must close after the response: after anything the
    /// client got wrong, the rest of its byte stream cannot be trusted.
    pub(crate) fn closes_connection(&self) -> bool {
        self.side() == Side::Client
    }

    /// Whether a failed attempt may go to one other target: a request the target never saw
    /// (the connect failed and the request is still whole: `unsent`), or a replayable one
    /// (idempotent and bodiless, `replayable`) whose target closed the connection before
    /// sending a byte of an answer (`silent`). Never a request whose body was sent, never
    /// one that timed out waiting for its answer or got part of one (a request that makes
    /// its target fail is not spread to the next), never when Ballast itself is out of
    /// sockets.
    pub(crate) fn retry(&self, unsent: bool, replayable: bool, silent: bool) -> Option<Retry> {
        match self {
            Fault::Connect(ConnectError::Exhausted(_)) => None,
            Fault::Connect(ConnectError::Io(e))
                if unsent && e.kind() == std::io::ErrorKind::ConnectionRefused =>
            {
                Some(Retry::Free)
            }
            Fault::Connect(_) if unsent => Some(Retry::Budgeted),
            Fault::TargetClosed(_) if replayable && silent => Some(Retry::Budgeted),
            _ => None,
        }
    }

    /// Whether the failure counts towards ejecting the target (passive health). A target
    /// that closed the connection while the client was still uploading may have given up
    /// on a slow client: that is the client's doing; Ballast's own exhaustion is nobody's.
    pub(crate) fn counts_against_target(&self, upload_finished: bool) -> bool {
        match self {
            Fault::TargetClosed(_) => upload_finished,
            _ => self.side() == Side::Target,
        }
    }

    /// The listener limit this fault is, if it is one.
    pub(crate) fn limit(&self) -> Option<ballast_telemetry::metrics::Limit> {
        use ballast_telemetry::metrics::Limit;
        match self {
            Fault::RequestTimeout => Some(Limit::RequestTimeout),
            Fault::ClientBodyTooSlow => Some(Limit::MinRequestBodyRate),
            _ => None,
        }
    }

    /// The response for this fault.
    pub(crate) fn reply(&self) -> Reply {
        let status = self.status();
        Reply {
            status,
            reason: self.reason(),
            body: error_page(status),
            close: self.closes_connection(),
        }
    }

    /// Logs the fault, rate-limited per side so no client can make Ballast write a line per
    /// request; the lines held back are counted in the next one.
    pub(crate) fn log(&self, listener: &str, group: &str, target: Option<std::net::SocketAddr>) {
        let status = self.status();
        let reason = self.reason();
        match self.side() {
            Side::Client => {
                if let Some(suppressed) = CLIENT_LOG.allow() {
                    tracing::info!(listener, target_group = group, status, reason, error = %self, suppressed, "request rejected");
                }
            }
            Side::Target => {
                if let Some(suppressed) = TARGET_LOG.allow() {
                    let target = target.map(|t| t.to_string()).unwrap_or_default();
                    tracing::warn!(listener, target_group = group, target, status, reason, error = %self, suppressed, "request failed");
                }
            }
            Side::Ballast => {
                if let Some(suppressed) = BALLAST_LOG.allow() {
                    tracing::warn!(listener, target_group = group, status, reason, error = %self, suppressed, "request failed: Ballast is out of file descriptors or socket memory (raise the limit: ulimit -n / LimitNOFILE)");
                }
            }
        }
    }
}

/// The one-line body of an error page.
pub(crate) fn error_page(status: u16) -> &'static [u8] {
    match status {
        400 => b"400 Bad Request\n",
        405 => b"405 Method Not Allowed\n",
        408 => b"408 Request Timeout\n",
        414 => b"414 URI Too Long\n",
        431 => b"431 Request Header Fields Too Large\n",
        502 => b"502 Bad Gateway\n",
        503 => b"503 Service Unavailable\n",
        504 => b"504 Gateway Timeout\n",
        _ => b"error\n",
    }
}

#[cfg(test)]
mod tests;
