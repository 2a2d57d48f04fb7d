//! Header rewriting between client and target: hop-by-hop removal and forwarding headers.

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Port` for one client connection,
/// built once when it is accepted so no request formats an address.
#[derive(Debug, Clone)]
pub(crate) struct Forwarded {
    /// The client's IP address.
    pub(crate) client_ip: HeaderValue,
    /// `http` or `https`: how the client reached us.
    pub(crate) proto: HeaderValue,
    /// The listener port the client connected to.
    pub(crate) port: HeaderValue,
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    PROXY_CONNECTION,
    KEEP_ALIVE,
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including every header the `Connection` header names.
///
/// `Host` is kept even when named: dropping it would make the message unroutable, and no
/// legitimate client marks it connection-specific.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the few names present costs less than a
    // hash lookup per hop-by-hop name.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    match headers.get_all(header::CONNECTION).iter().count() {
        0 => {}
        // The usual case (`keep-alive`, `close`): no list to collect.
        1 => {
            if let Some(value) = headers.remove(header::CONNECTION) {
                remove_listed(headers, &value);
            }
        }
        _ => {
            if let header::Entry::Occupied(entry) = headers.entry(header::CONNECTION) {
                let (_, values) = entry.remove_entry_mult();
                let listed: Vec<HeaderValue> = values.collect();
                for value in &listed {
                    remove_listed(headers, value);
                }
            }
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn remove_listed(headers: &mut HeaderMap, connection: &HeaderValue) {
    let Ok(text) = connection.to_str() else {
        return;
    };
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let keep = name.eq_ignore_ascii_case("host")
            || name.eq_ignore_ascii_case("keep-alive")
            || name.eq_ignore_ascii_case("close");
        if !keep {
            headers.remove(name);
        }
    }
}

/// Adds the forwarding headers a target behind a load balancer expects.
///
/// `X-Forwarded-For` keeps what earlier proxies wrote and appends this client (the ALB
/// `append` mode); `X-Forwarded-Proto` and `X-Forwarded-Port` are always ours.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, forwarded: &Forwarded) {
    match headers.entry(X_FORWARDED_FOR) {
        header::Entry::Vacant(entry) => {
            entry.insert(forwarded.client_ip.clone());
        }
        header::Entry::Occupied(mut entry) => {
            let mut joined = BytesMut::new();
            for value in entry.iter() {
                joined.extend_from_slice(value.as_bytes());
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(forwarded.client_ip.as_bytes());
            // Every part came from valid header values joined by ", ", so this cannot fail;
            // fall back to the client alone rather than panic if that ever changes.
            let value = HeaderValue::from_maybe_shared(joined.freeze())
                .unwrap_or_else(|_| forwarded.client_ip.clone());
            entry.insert(value);
        }
    }
    headers.insert(X_FORWARDED_PROTO, forwarded.proto.clone());
    headers.insert(X_FORWARDED_PORT, forwarded.port.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded() -> Forwarded {
        Forwarded {
            client_ip: HeaderValue::from_static("10.0.0.7"),
            proto: HeaderValue::from_static("http"),
            port: HeaderValue::from_static("8080"),
        }
    }

    #[test]
    fn strips_standard_and_named_hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, X-Secret , Host"),
        );
        h.append("connection", HeaderValue::from_static("x-other"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("upgrade", HeaderValue::from_static("h2c"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-other", HeaderValue::from_static("1"));
        h.insert("host", HeaderValue::from_static("example.com"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        let mut names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, vec!["host", "x-kept"]);
    }

    #[test]
    fn leaves_end_to_end_headers_alone() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("example.com"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn sets_xff_when_absent_and_appends_when_present() {
        let mut h = HeaderMap::new();
        add_forwarded(&mut h, &forwarded());
        assert_eq!(h["x-forwarded-for"], "10.0.0.7");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-port"], "8080");

        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("2.2.2.2, 3.3.3.3"),
        );
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        add_forwarded(&mut h, &forwarded());
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.7");
        assert_eq!(h["x-forwarded-proto"], "http");
    }
}
