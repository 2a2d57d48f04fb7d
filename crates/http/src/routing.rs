//! Which action a request gets (its listener's first matching rule, else the default
//! action), and the responses Ballast gives itself for redirect and fixed-response actions.

use std::net::IpAddr;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};

use crate::body::ProxyBody;
use crate::conn_state::RequestGuard;
use crate::proxy::ConnCtx;
use crate::route::{redirect_location, RedirectInput, RequestView};
use crate::snapshot::{FixedReply, ListenerRoutes, RouteAction};
use ballast_config::{Cidr, RedirectConfig};

/// The action for `req`: the first rule it matches, by priority, else the default action.
pub(crate) fn route_action<B>(
    routes: &ListenerRoutes,
    req: &Request<B>,
    ctx: &ConnCtx,
) -> RouteAction {
    if routes.rules.is_empty() {
        return routes.default_action.clone();
    }
    let host = host_of(req);
    let client_ip = if routes.rules.needs_source_ip() {
        client_ip(ctx.peer, &routes.trusted_proxies, req.headers())
    } else {
        ctx.peer
    };
    let view = RequestView {
        host: host.as_bytes(),
        path: req.uri().path().as_bytes(),
        method: req.method().as_str(),
        query: req.uri().query().unwrap_or("").as_bytes(),
        headers: req.headers(),
        client_ip,
    };
    match routes.rules.find(&view) {
        Some((action, _priority)) => action.clone(),
        None => routes.default_action.clone(),
    }
}

/// The request's host without its port: the URI's authority (HTTP/2, absolute form) or
/// the first `Host` header.
pub(crate) fn host_of<B>(req: &Request<B>) -> &str {
    let raw = match req.uri().authority() {
        Some(authority) => authority.as_str(),
        None => req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or(""),
    };
    strip_port(raw)
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The client's address for `source_ip` rules: the TCP peer, unless the peer is a trusted
/// proxy, in which case the right-most `X-Forwarded-For` entry that is not itself trusted.
pub(crate) fn client_ip(peer: IpAddr, trusted: &[Cidr], headers: &http::HeaderMap) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    let entries = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for entry in entries.iter().rev() {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            // Garbage in the chain: trust nothing further left of it.
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// A redirect answered by Ballast.
pub(crate) fn redirect<B>(
    config: &RedirectConfig,
    req: &Request<B>,
    ctx: &ConnCtx,
    request: RequestGuard,
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
    let mut response = Response::new(ProxyBody::local(bytes::Bytes::new(), Some(request)));
    *response.status_mut() =
        StatusCode::from_u16(config.status).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    match HeaderValue::try_from(location) {
        Ok(location) => {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Err(_) => *response.status_mut() = StatusCode::BAD_REQUEST,
    }
    response
}

/// A fixed response answered by Ballast.
pub(crate) fn fixed(reply: &FixedReply, request: RequestGuard) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::local(reply.body.clone(), Some(request)));
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
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
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
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "9.9.9.9".parse().unwrap();
        assert_eq!(
            client_ip(stranger, &trusted, &headers),
            stranger,
            "only trusted peers are believed"
        );
        assert_eq!(client_ip(proxy, &[], &headers), proxy);
    }
}
