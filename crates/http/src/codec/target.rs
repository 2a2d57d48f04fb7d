//! Request targets (RFC 9112 §3.2): which forms Ballast serves, split into path, query and
//! authority.

use super::fields::valid_authority;

/// The parts of a request target.
pub(super) struct TargetForm<'a> {
    pub(super) path: &'a [u8],
    pub(super) query: Option<&'a [u8]>,
    pub(super) authority: Option<&'a [u8]>,
}

/// Splits a request target (RFC 9112 §3.2): origin-form, absolute-form with an `http` or
/// `https` scheme and no userinfo, or `*` for OPTIONS. Authority-form belongs to CONNECT,
/// refused before this.
/// `None`: a target Ballast does not serve (`400`).
pub(super) fn request_target(target: &[u8], options: bool) -> Option<TargetForm<'_>> {
    let (rest, authority) = if target.first() == Some(&b'/') {
        (target, None)
    } else if target == b"*" {
        if !options {
            return None;
        }
        return Some(TargetForm {
            path: target,
            query: None,
            authority: None,
        });
    } else {
        let after_scheme = strip_scheme(target)?;
        let end = after_scheme
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(after_scheme.len());
        let authority = &after_scheme[..end];
        if authority.is_empty() || authority.contains(&b'@') || !valid_authority(authority) {
            return None;
        }
        (&after_scheme[end..], Some(authority))
    };
    // A fragment is never part of a request (RFC 9112 §3.2); it is not passed on.
    let rest = rest.split(|&b| b == b'#').next().unwrap_or_default();
    let (path, query) = match rest.iter().position(|&b| b == b'?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    Some(TargetForm {
        path,
        query,
        authority,
    })
}

/// The rest of an absolute-form target after `http://` or `https://` (any case).
fn strip_scheme(target: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"http://"[..], b"https://"] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(&target[scheme.len()..]);
        }
    }
    None
}
