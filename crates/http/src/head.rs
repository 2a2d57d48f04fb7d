//! What routing, stickiness and hashing read from a request, whichever protocol carried it:
//! an HTTP/1 head parsed by Ballast, or an HTTP/2 request parsed by hyper. The decision
//! phase and `explain` see only this.

use http::HeaderMap;

use crate::codec::{Field, RequestHead};

/// Header fields of a request, looked up by lower-case name.
pub trait FieldLookup {
    /// Calls `f` on each value of field `name` (lower case), in order, until it returns
    /// `true`; returns whether it did.
    fn any_field<'s>(&'s self, name: &str, f: &mut dyn FnMut(&'s [u8]) -> bool) -> bool;

    /// The first value of field `name`.
    fn first_field(&self, name: &str) -> Option<&[u8]>;

    /// Calls `f` on every field's value, in order, until it returns `true`; returns
    /// whether it did.
    fn any_value<'s>(&'s self, f: &mut dyn FnMut(&'s [u8]) -> bool) -> bool;
}

/// A request as the decision phase sees it.
pub(crate) trait RequestFacts: FieldLookup {
    /// The method, as sent.
    fn method(&self) -> &str;
    /// The request's authority (absolute-form target, HTTP/2 `:authority`) or else its
    /// `Host` field, as sent (with any port); empty when it has neither.
    fn authority(&self) -> &[u8];
    /// The path, without the query; empty means `/`.
    fn path(&self) -> &[u8];
    /// The query without `?` (empty when none).
    fn query(&self) -> &[u8];
}

/// The host of a request: its authority without port, user info or a trailing dot. IPv6
/// literals keep their brackets.
pub(crate) fn host_of(authority: &[u8]) -> &[u8] {
    let authority = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let host = if authority.first() == Some(&b'[') {
        match authority.iter().position(|&b| b == b']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        match authority.iter().rposition(|&b| b == b':') {
            Some(colon) if authority[colon + 1..].iter().all(u8::is_ascii_digit) => {
                &authority[..colon]
            }
            _ => authority,
        }
    };
    host.strip_suffix(b".").unwrap_or(host)
}

// === HTTP/1 heads ===

/// A request head parsed by Ballast, with the buffer it points into.
#[derive(Debug, Clone, Copy)]
pub(crate) struct H1Facts<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) head: &'a RequestHead,
    pub(crate) fields: &'a [Field],
}

impl FieldLookup for H1Facts<'_> {
    fn any_field<'s>(&'s self, name: &str, f: &mut dyn FnMut(&'s [u8]) -> bool) -> bool {
        self.fields
            .iter()
            .filter(|field| {
                field
                    .name
                    .of(self.buf)
                    .eq_ignore_ascii_case(name.as_bytes())
            })
            .any(|field| f(field.value.of(self.buf)))
    }

    fn first_field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|field| {
                field
                    .name
                    .of(self.buf)
                    .eq_ignore_ascii_case(name.as_bytes())
            })
            .map(|field| field.value.of(self.buf))
    }

    fn any_value<'s>(&'s self, f: &mut dyn FnMut(&'s [u8]) -> bool) -> bool {
        self.fields.iter().any(|field| f(field.value.of(self.buf)))
    }
}

impl RequestFacts for H1Facts<'_> {
    fn method(&self) -> &str {
        // The parser accepted only token characters, which are ASCII.
        std::str::from_utf8(self.head.method.of(self.buf)).unwrap_or("")
    }

    fn authority(&self) -> &[u8] {
        match (self.head.authority, self.head.host) {
            (Some(authority), _) => authority.of(self.buf),
            (None, Some(host)) => host.of(self.buf),
            (None, None) => b"",
        }
    }

    fn path(&self) -> &[u8] {
        self.head.path.of(self.buf)
    }

    fn query(&self) -> &[u8] {
        self.head.query.map_or(&[][..], |q| q.of(self.buf))
    }
}

// === HTTP/2 requests (and explain) ===

impl FieldLookup for HeaderMap {
    fn any_field<'s>(&'s self, name: &str, f: &mut dyn FnMut(&'s [u8]) -> bool) -> bool {
        self.get_all(name).iter().any(|v| f(v.as_bytes()))
    }

    fn first_field(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(http::HeaderValue::as_bytes)
    }

    fn any_value<'s>(&'s self, f: &mut dyn FnMut(&'s [u8]) -> bool) -> bool {
        self.values().any(|v| f(v.as_bytes()))
    }
}

impl FieldLookup for http::request::Parts {
    fn any_field<'s>(&'s self, name: &str, f: &mut dyn FnMut(&'s [u8]) -> bool) -> bool {
        self.headers.any_field(name, f)
    }

    fn first_field(&self, name: &str) -> Option<&[u8]> {
        self.headers.first_field(name)
    }

    fn any_value<'s>(&'s self, f: &mut dyn FnMut(&'s [u8]) -> bool) -> bool {
        self.headers.any_value(f)
    }
}

impl RequestFacts for http::request::Parts {
    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn authority(&self) -> &[u8] {
        match self.uri.authority() {
            Some(authority) => authority.as_str().as_bytes(),
            None => self
                .headers
                .get(http::header::HOST)
                .map_or(&[][..], |h| h.as_bytes()),
        }
    }

    fn path(&self) -> &[u8] {
        self.uri.path().as_bytes()
    }

    fn query(&self) -> &[u8] {
        self.uri.query().unwrap_or("").as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_ports_user_info_and_trailing_dots() {
        assert_eq!(host_of(b"example.com:8080"), b"example.com");
        assert_eq!(host_of(b"example.com"), b"example.com");
        assert_eq!(host_of(b"[::1]:80"), b"[::1]");
        assert_eq!(host_of(b"user@Admin.example.com.:81"), b"Admin.example.com");
        assert_eq!(host_of(b""), b"");
    }
}
