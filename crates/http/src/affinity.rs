//! The affinity key of a request for hashing algorithms: the client's address (`ip_hash`),
//! or a header, cookie or query parameter (`consistent_hash`), hashed with the stable hash
//! every Ballast node and release shares. Only computed for groups that hash.

use ballast_balance::{stable_hash, Algorithm};
use ballast_config::HashKey;
use http::{header, Request};

use crate::headers::Forwarded;
use crate::snapshot::TargetGroup;

/// The hashed key of `req` for `group`, or `None` when the group does not hash or the
/// request lacks the key (it is then placed by weight at random).
pub(crate) fn affinity_key<B>(
    group: &TargetGroup,
    req: &Request<B>,
    forwarded: &Forwarded,
) -> Option<u64> {
    match group.balancer.algorithm() {
        Algorithm::IpHash => Some(stable_hash(forwarded.client_ip.as_bytes())),
        Algorithm::ConsistentHash => key_value(group.hash_key.as_ref()?, req).map(stable_hash),
        _ => None,
    }
}

fn key_value<'r, B>(key: &HashKey, req: &'r Request<B>) -> Option<&'r [u8]> {
    match key {
        HashKey::Header(name) => req.headers().get(name.as_str()).map(|v| v.as_bytes()),
        HashKey::Cookie(name) => req
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .find_map(|v| cookie_values(v.as_bytes(), name.as_bytes()).next()),
        HashKey::Query(name) => query_value(req.uri().query()?.as_bytes(), name.as_bytes()),
    }
}

/// The values of cookie `name` in a `Cookie` header (`a=1; b=2`), in order.
pub(crate) fn cookie_values<'h, 'n>(
    header: &'h [u8],
    name: &'n [u8],
) -> impl Iterator<Item = &'h [u8]> + use<'h, 'n> {
    header.split(|&b| b == b';').filter_map(move |pair| {
        let (k, v) = split_once(pair.trim_ascii(), b'=')?;
        (k.trim_ascii() == name).then(|| v.trim_ascii())
    })
}

/// The value of parameter `name` in a query string (`a=1&b=2`), as written.
fn query_value<'q>(query: &'q [u8], name: &[u8]) -> Option<&'q [u8]> {
    query.split(|&b| b == b'&').find_map(|pair| {
        let (k, v) = split_once(pair, b'=').unwrap_or((pair, b""));
        (k == name).then_some(v)
    })
}

fn split_once(bytes: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().position(|&b| b == at)?;
    Some((&bytes[..i], &bytes[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookies_and_query_parameters() {
        assert_eq!(
            cookie_values(b"a=1; sid=xyz ; b=2", b"sid").next(),
            Some(&b"xyz"[..])
        );
        assert_eq!(cookie_values(b"sidx=1", b"sid").next(), None);
        let all: Vec<_> = cookie_values(b"sid=1; x=2; sid=3", b"sid").collect();
        assert_eq!(all, [&b"1"[..], &b"3"[..]]);
        assert_eq!(query_value(b"user=42&x", b"user"), Some(&b"42"[..]));
        assert_eq!(query_value(b"x&user", b"user"), Some(&b""[..]));
        assert_eq!(query_value(b"users=1", b"user"), None);
    }
}
