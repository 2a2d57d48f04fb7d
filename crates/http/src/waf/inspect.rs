//! The values of a request part a WAF condition inspects, and the text transformations
//! applied to them first. Pure.

use std::borrow::Cow;

use ballast_config::{Transform, WafField};

use crate::affinity::cookie_values;
use crate::codec::hex;
use crate::head::{host_of, RequestFacts};

/// What a condition can look at: the request, its client, and its body.
pub(crate) struct Inspected<'a> {
    pub(crate) req: &'a dyn RequestFacts,
    /// The client: the peer, or what trusted proxies say.
    pub(crate) client: std::net::IpAddr,
    /// The TCP peer and the proxies believed, for rate-based rules (keyed as rate limits).
    pub(crate) peer: std::net::IpAddr,
    pub(crate) trusted: &'a [ballast_config::Cidr],
    pub(crate) body: Body<'a>,
}

/// What a firewall sees of a request body.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'a> {
    /// The request has none.
    None,
    /// Its first bytes (up to the largest limit of the listener's sets), and its whole
    /// length.
    Read(&'a [u8], u64),
    /// It was not read before the decision (no set of the listener inspects bodies): it
    /// counts as oversize.
    Uninspected,
}

impl Body<'_> {
    /// A body that was not read before the decision: uninspected when there is one.
    pub(crate) fn unread(present: bool) -> Self {
        match present {
            true => Body::Uninspected,
            false => Body::None,
        }
    }
}

/// Calls `f` on each value of `field` until it returns `true`; returns whether it did.
/// `body`: the body bytes this set inspects.
pub(crate) fn any_value(
    field: &WafField,
    at: &Inspected<'_>,
    body: &[u8],
    f: &mut dyn FnMut(&[u8]) -> bool,
) -> bool {
    let req = at.req;
    match field {
        WafField::Path => f(path_or_root(req.path())),
        WafField::Query => f(req.query()),
        WafField::Uri => {
            let mut uri = path_or_root(req.path()).to_vec();
            if !req.query().is_empty() {
                uri.push(b'?');
                uri.extend_from_slice(req.query());
            }
            f(&uri)
        }
        WafField::Method => f(req.method().as_bytes()),
        WafField::Host => f(host_of(req.authority())),
        WafField::Header(name) => req.any_field(name, &mut |v| f(v)),
        WafField::Headers => req.any_value(&mut |v| f(v)),
        WafField::Cookie(name) => req.any_field("cookie", &mut |v| {
            cookie_values(v, name.as_bytes()).any(&mut *f)
        }),
        WafField::Cookies => req.any_field("cookie", &mut |v| {
            v.split(|&b| b == b';')
                .filter_map(|pair| pair.iter().position(|&b| b == b'=').map(|i| &pair[i + 1..]))
                .any(&mut *f)
        }),
        // Names compare decoded and in any case (AWS WAF's), so `%71=` or `Q=` is `q`.
        WafField::Arg(name) => pairs(req.query())
            .filter(|(k, _)| {
                transformed(k, &[Transform::UrlDecode]).eq_ignore_ascii_case(name.as_bytes())
            })
            .any(|(_, v)| f(v)),
        WafField::Args => pairs(req.query()).any(|(_, v)| f(v)),
        WafField::Body => f(body),
        WafField::BodyArgs if is_form(req) => pairs(body).any(|(_, v)| f(v)),
        WafField::BodyArgs => f(body),
        // Tested on the client's address, never as text.
        WafField::SourceIp => false,
    }
}

fn path_or_root(path: &[u8]) -> &[u8] {
    if path.is_empty() {
        b"/"
    } else {
        path
    }
}

/// Whether the body is a form (`application/x-www-form-urlencoded`).
fn is_form(req: &dyn RequestFacts) -> bool {
    req.first_field("content-type").is_some_and(|t| {
        t.len() >= 33 && t[..33].eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
    })
}

/// The `name=value` pairs of a query or form, raw (a pair without `=` is a name with an
/// empty value).
fn pairs(text: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    text.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => (p, &p[p.len()..]),
        })
}

/// `value` after `transforms`, in order; borrowed when none changed it.
pub(crate) fn transformed<'v>(value: &'v [u8], transforms: &[Transform]) -> Cow<'v, [u8]> {
    let mut out = Cow::Borrowed(value);
    for t in transforms {
        let next = match t {
            Transform::UrlDecode => url_decode(&out),
            Transform::HtmlEntityDecode => html_decode(&out),
            Transform::Lowercase => out
                .iter()
                .any(u8::is_ascii_uppercase)
                .then(|| out.to_ascii_lowercase()),
            Transform::CompressWhitespace => compress_whitespace(&out),
        };
        if let Some(next) = next {
            out = Cow::Owned(next);
        }
    }
    out
}

/// `%XX` and `+` decoded (`None` when there is nothing to decode); a `%` without two hex
/// digits stays as it is.
fn url_decode(v: &[u8]) -> Option<Vec<u8>> {
    if !v.iter().any(|&b| b == b'%' || b == b'+') {
        return None;
    }
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                v.get(i + 1).and_then(|&b| hex(b)),
                v.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// Numeric character references and the entities attacks use decoded (`None` when there
/// is no `&`). Code points above 255 are dropped: detectors read bytes.
fn html_decode(v: &[u8]) -> Option<Vec<u8>> {
    if !v.contains(&b'&') {
        return None;
    }
    const NAMED: [(&[u8], u8); 8] = [
        (b"lt", b'<'),
        (b"gt", b'>'),
        (b"quot", b'"'),
        (b"apos", b'\''),
        (b"amp", b'&'),
        (b"nbsp", b' '),
        (b"colon", b':'),
        (b"sol", b'/'),
    ];
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'&' {
            let end = v[i..]
                .iter()
                .take(12)
                .position(|&b| b == b';')
                .map(|e| i + e);
            if let Some(end) = end {
                let name = &v[i + 1..end];
                let code = match name {
                    [b'#', b'x' | b'X', digits @ ..] => std::str::from_utf8(digits)
                        .ok()
                        .and_then(|d| u32::from_str_radix(d, 16).ok()),
                    [b'#', digits @ ..] => std::str::from_utf8(digits)
                        .ok()
                        .and_then(|d| d.parse().ok()),
                    _ => NAMED
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, c)| u32::from(*c)),
                };
                if let Some(code) = code {
                    if let Ok(byte) = u8::try_from(code) {
                        out.push(byte);
                    }
                    i = end + 1;
                    continue;
                }
            }
        }
        out.push(v[i]);
        i += 1;
    }
    Some(out)
}

/// Runs of whitespace (space, tab, CR, LF, FF, VT) become one space.
fn compress_whitespace(v: &[u8]) -> Option<Vec<u8>> {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c);
    if !v.windows(2).any(|w| ws(&w[0]) && ws(&w[1])) && !v.iter().any(|b| ws(b) && *b != b' ') {
        return None;
    }
    let mut out = Vec::with_capacity(v.len());
    let mut last_ws = false;
    for b in v {
        if ws(b) {
            if !last_ws {
                out.push(b' ');
            }
            last_ws = true;
        } else {
            out.push(*b);
            last_ws = false;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
