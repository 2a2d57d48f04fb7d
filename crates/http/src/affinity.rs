//! The affinity key of a request for hashing algorithms: the client's address (`ip_hash`),
//! or a header, cookie or query parameter (`consistent_hash`), hashed with the stable hash
//! every Ballast node and release shares. Only computed for groups that hash.

use ballast_balance::{stable_hash, Algorithm};
use ballast_config::HashKey;

use crate::head::RequestFacts;
use crate::snapshot::TargetGroup;

/// The hashed key of a request for `group`, or `None` when the group does not hash or the
/// request lacks the key (it is then placed by weight at random). `client_ip` is the
/// client's address as text (what `X-Forwarded-For` carries).
pub(crate) fn affinity_key(
    group: &TargetGroup,
    req: &dyn RequestFacts,
    client_ip: &[u8],
) -> Option<u64> {
    match group.balancer.algorithm() {
        Algorithm::IpHash => Some(stable_hash(client_ip)),
        Algorithm::ConsistentHash => key_value(group.hash_key.as_ref()?, req).map(stable_hash),
        _ => None,
    }
}

fn key_value<'r>(key: &HashKey, req: &'r dyn RequestFacts) -> Option<&'r [u8]> {
    match key {
        HashKey::Header(name) => req.first_field(&name.to_ascii_lowercase()),
        HashKey::Cookie(name) => {
            let mut found = None;
            req.any_field("cookie", &mut |v| {
                found = cookie_values(v, name.as_bytes()).next();
                found.is_some()
            });
            found
        }
        HashKey::Query(name) => query_value(req.query(), name.as_bytes()),
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
