//! Which action a request gets (its listener's first matching rule, else the default
//! action), and the responses Ballast gives itself for redirect and fixed-response actions.

use std::net::IpAddr;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};

use crate::body::ProxyBody;
use crate::exchange::{ActionKind, Exchange};
use crate::proxy::ConnCtx;
use crate::route::{redirect_location, RedirectInput, RequestView};
use crate::snapshot::{FixedReply, ListenerRoutes, RouteAction};
use ballast_config::{Cidr, RedirectConfig};

/// The action for `req`: the first rule it matches, by priority, else the default action.
pub(crate) fn route_action<B>(
    routes: &ListenerRoutes,
    req: &Request<B>,
    peer: IpAddr,
) -> (RouteAction, Option<u32>) {
    if routes.rules.is_empty() {
        return (routes.default_action.clone(), None);
    }
    let host = host_of(req);
    let client_ip = if routes.rules.needs_source_ip() {
        client_ip(peer, &routes.trusted_proxies, req.headers())
    } else {
        Some(peer)
    };
    // Rules see the path as the target will understand it (ALB matches after URI
    // normalisation), so `/%61dmin` or `/x/../admin` cannot slip past an `/admin*` rule.
    let path = normalized_path(req.uri().path());
    let view = RequestView {
        host: host.as_bytes(),
        path: path.as_bytes(),
        method: req.method().as_str(),
        query: req.uri().query().unwrap_or("").as_bytes(),
        headers: req.headers(),
        client_ip,
    };
    match routes.rules.find(&view) {
        Some((action, priority)) => (action.clone(), Some(priority)),
        None => (routes.default_action.clone(), None),
    }
}

/// The request's host without port, user info or a trailing dot: from the URI's authority
/// (HTTP/2, absolute form) or the `Host` header. IPv6 literals keep their brackets.
pub(crate) fn host_of<B>(req: &Request<B>) -> &str {
    let raw = match req.uri().authority() {
        Some(authority) => authority.host(),
        None => req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or("", strip_port),
    };
    raw.strip_suffix('.').unwrap_or(raw)
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [v6]:port: keep the brackets, drop the port.
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The path with percent-encoded unreserved characters decoded, repeated slashes merged and
/// `.`/`..` segments removed (RFC 3986 §6.2.2); borrowed when there is nothing to do.
pub(crate) fn normalized_path(path: &str) -> std::borrow::Cow<'_, str> {
    let plain = !path.contains('%') && !path.contains("/.") && !path.contains("//");
    if plain {
        return std::borrow::Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) {
                let c = (h * 16 + l) as u8;
                if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                    decoded.push(c);
                    i += 3;
                    continue;
                }
            }
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    let mut out: Vec<&[u8]> = Vec::new();
    let ends_with_slash =
        decoded.ends_with(b"/") || decoded.ends_with(b"/.") || decoded.ends_with(b"/..");
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    let mut normal = String::with_capacity(decoded.len());
    for segment in &out {
        normal.push('/');
        normal.push_str(&String::from_utf8_lossy(segment));
    }
    if normal.is_empty() || ends_with_slash {
        normal.push('/');
    }
    std::borrow::Cow::Owned(normal)
}

/// The client's address for `source_ip` rules: the TCP peer, unless the peer is a trusted
/// proxy, in which case the right-most `X-Forwarded-For` entry that is not itself trusted.
/// `None` when the chain holds something that is not an address: such a request matches no
/// `source_ip` block, rather than passing for the trusted proxy.
pub(crate) fn client_ip(
    peer: IpAddr,
    trusted: &[Cidr],
    headers: &http::HeaderMap,
) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let text = value.to_str().ok()?;
        for entry in text.rsplit(',') {
            let ip = parse_forwarded_ip(entry.trim())?;
            client = ip;
            if !is_trusted(ip) {
                return Some(ip);
            }
        }
    }
    Some(client)
}

/// `1.2.3.4`, `1.2.3.4:5555`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (ip, port) = entry.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse().ok()
}

/// A redirect answered by Ballast.
pub(crate) fn redirect<B>(
    config: &RedirectConfig,
    req: &Request<B>,
    ctx: &ConnCtx,
    mut exchange: Exchange,
) -> Response<ProxyBody> {
    let port = ctx.forwarded.port.to_str().unwrap_or("");
    let protocol = ctx.forwarded.proto.to_str().unwrap_or("http");
    let location = redirect_location(
        config,
        RedirectInput {
            protocol,
            host: host_of(req),
            port,
            path: req.uri().path(),
            query: req.uri().query().unwrap_or(""),
        },
    );
    let (status, location) = match HeaderValue::try_from(location) {
        Ok(location) => (
            StatusCode::from_u16(config.status).unwrap_or(StatusCode::MOVED_PERMANENTLY),
            Some(location),
        ),
        Err(_) => (StatusCode::BAD_REQUEST, None),
    };
    exchange.action = ActionKind::Redirect;
    exchange.answered(status.as_u16(), None);
    let mut response = Response::new(ProxyBody::local(bytes::Bytes::new(), Some(exchange)));
    *response.status_mut() = status;
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The answer to an ACME `http-01` validation request (RFC 8555 §8.3): the key
/// authorization of a pending challenge for the token in the path. `None` for any other
/// path, and for tokens nobody is waiting on, which then route as usual.
pub(crate) fn acme_http01(
    challenges: &ballast_tls::AcmeChallenges,
    path: &str,
) -> Option<FixedReply> {
    let token = path.strip_prefix(ballast_tls::HTTP01_PREFIX)?;
    let answer = challenges.http01(token)?;
    tracing::info!(token, "answered an ACME http-01 challenge");
    Some(FixedReply {
        status: StatusCode::OK,
        content_type: HeaderValue::from_static("application/octet-stream"),
        body: bytes::Bytes::copy_from_slice(answer.as_bytes()),
    })
}

/// A fixed response answered by Ballast.
pub(crate) fn fixed(reply: &FixedReply, mut exchange: Exchange) -> Response<ProxyBody> {
    exchange.action = ActionKind::FixedResponse;
    exchange.answered(reply.status.as_u16(), None);
    let mut response = Response::new(ProxyBody::local(reply.body.clone(), Some(exchange)));
    *response.status_mut() = reply.status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, reply.content_type.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acme_http01_answers_only_pending_tokens_under_its_prefix() {
        let challenges = ballast_tls::AcmeChallenges::default();
        challenges.set_http01("tok-1", "tok-1.thumbprint");
        let reply = acme_http01(&challenges, "/.well-known/acme-challenge/tok-1").unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(&reply.body[..], b"tok-1.thumbprint");
        assert!(acme_http01(&challenges, "/.well-known/acme-challenge/other").is_none());
        assert!(acme_http01(&challenges, "/tok-1").is_none());
        assert!(acme_http01(&challenges, "/.well-known/acme-challenge/").is_none());
    }

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        let req = Request::get("http://user@Admin.example.com.:81/x")
            .body(())
            .unwrap();
        assert_eq!(host_of(&req), "Admin.example.com");
    }

    #[test]
    fn paths_are_normalised_for_rules() {
        for (raw, normal) in [
            ("/admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("//admin", "/admin"),
            ("/./admin", "/admin"),
            ("/x/../admin", "/admin"),
            ("/a/b/", "/a/b/"),
            ("/a%2Fb", "/a%2Fb"),
            ("/..", "/"),
            ("/a/.", "/a/"),
        ] {
            assert_eq!(normalized_path(raw), normal, "{raw}");
        }
    }

    #[test]
    fn the_client_behind_trusted_proxies_is_the_first_untrusted_address() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 5.6.7.8, 10.0.0.9"),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &trusted, &headers),
            Some("5.6.7.8".parse().unwrap())
        );
        let mut ported = http::HeaderMap::new();
        ported.insert(
            "x-forwarded-for",
            HeaderValue::from_static("[2001:db8::1]:443, 5.6.7.8:5555"),
        );
        assert_eq!(
            client_ip(proxy, &trusted, &ported),
            Some("5.6.7.8".parse().unwrap())
        );
        let mut garbage = http::HeaderMap::new();
        garbage.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(
            client_ip(proxy, &trusted, &garbage),
            None,
            "garbage is nobody"
        );
        let stranger: IpAddr = "9.9.9.9".parse().unwrap();
        assert_eq!(
            client_ip(stranger, &trusted, &headers),
            Some(stranger),
            "only trusted peers are believed"
        );
        assert_eq!(client_ip(proxy, &[], &headers), Some(proxy));
    }
}
