//! What rules are matched against, worked out from a request: the path as a target will
//! understand it, and the client's address behind trusted proxies.

use std::borrow::Cow;
use std::net::IpAddr;

use ballast_config::Cidr;

use crate::head::FieldLookup;

/// The path with percent-encoded unreserved characters decoded, repeated slashes merged and
/// `.`/`..` segments removed (RFC 3986 §6.2.2); borrowed when there is nothing to do. Rules
/// see the path this way (ALB matches after URI normalisation), so `/%61dmin` or
/// `/x/../admin` cannot slip past an `/admin*` rule.
pub(crate) fn normalized_path(path: &[u8]) -> Cow<'_, [u8]> {
    let plain = !path.contains(&b'%')
        && !path.windows(2).any(|w| w == b"/." || w == b"//")
        && !path.is_empty();
    if plain {
        return Cow::Borrowed(path);
    }
    let mut decoded = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if path[i] == b'%' {
            if let (Some(h), Some(l)) = (
                path.get(i + 1).and_then(|b| hex(*b)),
                path.get(i + 2).and_then(|b| hex(*b)),
            ) {
                let c = (h * 16 + l) as u8;
                if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                    decoded.push(c);
                    i += 3;
                    continue;
                }
            }
        }
        decoded.push(path[i]);
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
    let mut normal = Vec::with_capacity(decoded.len() + 1);
    for segment in &out {
        normal.push(b'/');
        normal.extend_from_slice(segment);
    }
    if normal.is_empty() || ends_with_slash {
        normal.push(b'/');
    }
    Cow::Owned(normal)
}

/// The client's address for `source_ip` rules: the TCP peer, unless the peer is a trusted
/// proxy, in which case the right-most `X-Forwarded-For` entry that is not itself trusted.
/// `None` when the chain holds something that is not an address: such a request matches no
/// `source_ip` block, rather than passing for the trusted proxy.
pub(crate) fn client_ip(
    peer: IpAddr,
    trusted: &[Cidr],
    fields: &dyn FieldLookup,
) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return Some(peer);
    }
    // Entries right to left across every field: collect the fields first (few), then walk
    // them backwards.
    let mut values: Vec<&[u8]> = Vec::new();
    fields.any_field("x-forwarded-for", &mut |v| {
        values.push(v);
        false
    });
    let mut client = peer;
    for value in values.iter().rev() {
        let text = std::str::from_utf8(value).ok()?;
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
pub(crate) fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

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
            ("", "/"),
        ] {
            assert_eq!(
                &*normalized_path(raw.as_bytes()),
                normal.as_bytes(),
                "{raw}"
            );
        }
    }

    #[test]
    fn the_client_behind_trusted_proxies_is_the_first_untrusted_address() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 5.6.7.8, 10.0.0.9"),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &trusted, &headers),
            Some("5.6.7.8".parse().unwrap())
        );
        let mut ported = HeaderMap::new();
        ported.insert(
            "x-forwarded-for",
            HeaderValue::from_static("[2001:db8::1]:443, 5.6.7.8:5555"),
        );
        assert_eq!(
            client_ip(proxy, &trusted, &ported),
            Some("5.6.7.8".parse().unwrap())
        );
        let mut garbage = HeaderMap::new();
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
