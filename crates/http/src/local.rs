//! Responses Ballast writes itself: error pages, redirects, fixed responses and ACME
//! `http-01` answers, in one form both protocols render.

use ballast_config::RedirectConfig;
use bytes::Bytes;

use crate::fault::Reply;
use crate::head::{host_of, RequestFacts};
use crate::route::{redirect_location, RedirectInput};
use crate::snapshot::FixedReply;

/// A response of Ballast's own.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    pub(crate) status: u16,
    pub(crate) content_type: Option<Bytes>,
    pub(crate) location: Option<Bytes>,
    /// `Allow` (a 405).
    pub(crate) allow: Option<&'static str>,
    /// `Retry-After`, in seconds (a 429).
    pub(crate) retry_after: Option<u32>,
    pub(crate) body: Bytes,
    /// Close the client connection after it.
    pub(crate) close: bool,
}

/// The methods a 405 lists: every method but `CONNECT` is proxied.
const ALLOWED: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH";

impl Local {
    /// The error page of a fault.
    pub(crate) fn error(reply: Reply) -> Self {
        Self {
            status: reply.status,
            content_type: Some(Bytes::from_static(b"text/plain; charset=utf-8")),
            location: None,
            allow: (reply.status == 405).then_some(ALLOWED),
            retry_after: None,
            body: Bytes::from_static(reply.body),
            close: reply.close,
        }
    }

    /// `429 Too Many Requests`, to try again after `seconds` (RFC 6585 §4).
    pub(crate) fn too_many(seconds: u32) -> Self {
        Self {
            status: 429,
            content_type: Some(Bytes::from_static(b"text/plain; charset=utf-8")),
            location: None,
            allow: None,
            retry_after: Some(seconds),
            body: Bytes::from_static(b"Too Many Requests\n"),
            close: false,
        }
    }

    /// A fixed response.
    pub(crate) fn fixed(reply: &FixedReply) -> Self {
        Self {
            status: reply.status.as_u16(),
            content_type: Some(Bytes::copy_from_slice(reply.content_type.as_bytes())),
            location: None,
            allow: None,
            retry_after: None,
            body: reply.body.clone(),
            close: false,
        }
    }

    /// A redirect of `req`, arriving over `scheme` on listener port `port`. A `Location`
    /// that is not a valid field value (a template filled with odd bytes) gives 400.
    pub(crate) fn redirect(
        config: &RedirectConfig,
        req: &dyn RequestFacts,
        scheme: &str,
        port: &[u8],
    ) -> Self {
        let text = |b: &[u8]| std::str::from_utf8(b).unwrap_or("").to_owned();
        let host = text(host_of(req.authority()));
        let path = {
            let p = text(req.path());
            if p.is_empty() {
                "/".to_owned()
            } else {
                p
            }
        };
        let location = redirect_location(
            config,
            RedirectInput {
                protocol: scheme,
                host: &host,
                port: std::str::from_utf8(port).unwrap_or(""),
                path: &path,
                query: &text(req.query()),
            },
        );
        let valid = location
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
        if !valid {
            return Self::error(Reply {
                status: 400,
                reason: "Client.InvalidRedirect",
                body: crate::fault::error_page(400),
                close: false,
            });
        }
        Self {
            status: config.status,
            content_type: None,
            location: Some(Bytes::from(location)),
            allow: None,
            retry_after: None,
            body: Bytes::new(),
            close: false,
        }
    }

    /// Renders it as an HTTP/1.1 response head and body; `head_request`: no body is sent.
    pub(crate) fn write_h1(
        &self,
        out: &mut Vec<u8>,
        head_request: bool,
        extra: Option<&crate::rewrite::HeaderOps>,
        connection: crate::codec::Connection,
    ) {
        use crate::codec::{field, length_field, status_line};
        status_line(out, self.status, b"");
        if let Some(ct) = &self.content_type {
            field(out, b"Content-Type", ct);
        }
        if let Some(location) = &self.location {
            field(out, b"Location", location);
        }
        if let Some(allow) = self.allow {
            field(out, b"Allow", allow.as_bytes());
        }
        if let Some(seconds) = self.retry_after {
            field(out, b"Retry-After", seconds.to_string().as_bytes());
        }
        if let Some(ops) = extra {
            ops.write(out);
        }
        length_field(out, self.body.len() as u64);
        connection.write(out);
        out.extend_from_slice(b"\r\n");
        if !head_request {
            out.extend_from_slice(&self.body);
        }
    }
}

/// The answer to an ACME `http-01` validation request (RFC 8555 §8.3): the key
/// authorization of a pending challenge for the token in the path. `None` for any other
/// path, and for tokens nobody is waiting on, which then route as usual.
pub(crate) fn acme_http01(challenges: &ballast_tls::AcmeChallenges, path: &str) -> Option<Local> {
    let token = path.strip_prefix(ballast_tls::HTTP01_PREFIX)?;
    let answer = challenges.http01(token)?;
    tracing::info!(token, "answered an ACME http-01 challenge");
    Some(Local {
        status: 200,
        content_type: Some(Bytes::from_static(b"application/octet-stream")),
        location: None,
        allow: None,
        retry_after: None,
        body: Bytes::copy_from_slice(answer.as_bytes()),
        close: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acme_http01_answers_only_pending_tokens_under_its_prefix() {
        let challenges = ballast_tls::AcmeChallenges::default();
        challenges.set_http01("tok-1", "tok-1.thumbprint");
        let reply = acme_http01(&challenges, "/.well-known/acme-challenge/tok-1").unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(&reply.body[..], b"tok-1.thumbprint");
        assert!(acme_http01(&challenges, "/.well-known/acme-challenge/other").is_none());
        assert!(acme_http01(&challenges, "/tok-1").is_none());
        assert!(acme_http01(&challenges, "/.well-known/acme-challenge/").is_none());
    }
}
