//! Ballast's decision against hyper's, and the differences allowed between them.

use ballast_http::fuzzing::{request_framing, BodyFraming, Framing};
use tokio::runtime::Runtime;

use crate::hyper_server::{run_hyper, Hyper, Seen};

/// How one input came out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    /// Both accepted and framed the request the same way.
    Agree,
    /// Both refused (or neither saw a complete head).
    BothRefused(&'static str),
    /// Ballast refused what hyper accepted.
    Stricter(&'static str),
    /// Ballast accepted what hyper refused, for a reason listed in `allowed`.
    Allowed(&'static str),
}

/// Compares Ballast's and hyper's decisions on `bytes`; `Err` describes a divergence.
pub(crate) fn compare(rt: &Runtime, bytes: &[u8]) -> Result<Verdict, String> {
    let ballast = request_framing(bytes);
    let hyper = rt.block_on(run_hyper(bytes))?;
    match (&ballast, hyper) {
        (Framing::Refused { reason }, Hyper::Accepted(_)) => Ok(Verdict::Stricter(reason)),
        // Nothing after it is read: no second request exists to disagree about.
        (Framing::ServedThenClosed, Hyper::Accepted(_)) => Ok(Verdict::Stricter("closed after")),
        (Framing::ServedThenClosed, Hyper::Refused(_)) => Ok(Verdict::BothRefused("closed after")),
        (Framing::Refused { reason }, Hyper::Refused(_)) => Ok(Verdict::BothRefused(reason)),
        (Framing::Partial, Hyper::Refused(_)) => Ok(Verdict::BothRefused("partial head")),
        (Framing::Partial, Hyper::Accepted(seen)) => Err(format!(
            "Ballast waits for more of the head; hyper served {seen:?}"
        )),
        (Framing::Accepted { .. }, Hyper::Refused(status)) => match allowed(rt, bytes, &ballast) {
            Some(reason) => Ok(Verdict::Allowed(reason)),
            None => Err(format!(
                "Ballast accepted {ballast:?}; hyper refused (status {status:?})"
            )),
        },
        (Framing::Accepted { .. }, Hyper::Accepted(seen)) => same_framing(bytes, &ballast, &seen)
            .map(|()| Verdict::Agree)
            .map_err(|why| format!("{why}: Ballast {ballast:?}, hyper {seen:?}")),
    }
}

/// Whether hyper read the request Ballast accepted as Ballast frames it.
fn same_framing(bytes: &[u8], ballast: &Framing, seen: &Seen) -> Result<(), &'static str> {
    let Framing::Accepted {
        head_len,
        method,
        path,
        body,
    } = ballast
    else {
        return Err("not accepted");
    };
    if *method != seen.method {
        return Err("methods differ");
    }
    if *path != seen.path {
        return Err("paths differ");
    }
    let rest = &bytes[*head_len..];
    match (*body, seen.length) {
        (BodyFraming::None, Some(0)) if seen.data.is_empty() && seen.complete => Ok(()),
        (BodyFraming::Length(n), Some(m)) if n == m => {
            // The body hyper read is what follows Ballast's head: both ended the head at
            // the same byte, and both take the same bytes as the body.
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            let (expected, complete) = match rest.get(..n) {
                Some(body) => (body, true),
                None => (rest, false),
            };
            match seen.data == expected && seen.complete == complete {
                true => Ok(()),
                false => Err("body bytes differ"),
            }
        }
        (BodyFraming::Chunked, None) => match known_chunked_payload(rest) {
            Some(payload) if seen.data != payload || !seen.complete => Err("chunked body differs"),
            _ => Ok(()),
        },
        _ => Err("body framing differs"),
    }
}

/// The payload of a well-formed chunked body the grammar appends, if `rest` starts with one.
fn known_chunked_payload(rest: &[u8]) -> Option<&'static [u8]> {
    if rest.starts_with(b"5\r\nhello\r\n0\r\n\r\n") {
        Some(b"hello")
    } else if rest.starts_with(b"0\r\n\r\n") {
        Some(b"")
    } else {
        None
    }
}

/// Divergences where Ballast accepts what hyper refuses and is still safe. Each is checked
/// narrowly: the input is rewritten to remove only those differences, and hyper must then
/// accept it and frame it exactly as Ballast framed the original.
///
/// - RFC 9110 §8.6 lets a recipient take `Content-Length: 5, 5` as 5, and Ballast does
///   (docs/request-lifecycle.md, "identical repeats are one"); hyper's server refuses any
///   list. The length is the same however it is read, so no boundary moves.
/// - Ballast passes request-target bytes httparse accepts (visible ASCII, as NGINX and
///   HAProxy do) and leaves their meaning to the target; hyper's `Uri` refuses some of them
///   (`<`, `>`, `"`, `{`, `\`, ...). A target's characters do not move where the request
///   ends: with the target replaced by `/`, hyper must frame it as Ballast did.
/// - Parameters on transfer codings (below).
fn allowed(rt: &Runtime, bytes: &[u8], ballast: &Framing) -> Option<&'static str> {
    let Framing::Accepted { head_len, body, .. } = ballast else {
        return None;
    };
    let head = &bytes[..*head_len];
    // Every combination of the rewrites, fewest first: the reasons name what had to go.
    for mask in 1..1u32 << REWRITES.len() {
        let mut rewritten = head.to_vec();
        let mut applied = true;
        for (i, (_, rewrite)) in REWRITES.iter().enumerate() {
            if mask & (1 << i) != 0 {
                match rewrite(&rewritten) {
                    Some(next) => rewritten = next,
                    None => applied = false,
                }
            }
        }
        if !applied {
            continue;
        }
        rewritten.extend_from_slice(&bytes[*head_len..]);
        let same_body = matches!(
            request_framing(&rewritten),
            Framing::Accepted { body: b, .. } if b == *body
        );
        if same_body && compare(rt, &rewritten) == Ok(Verdict::Agree) {
            let named = REWRITES
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0);
            return Some(
                match named.map(|(_, (reason, _))| *reason).collect::<Vec<_>>()[..] {
                    [one] => one,
                    _ => "several of the allowed differences",
                },
            );
        }
    }
    None
}

/// Rewrites that each remove one allowed difference from a head, `None` when the head does
/// not have it.
type Rewrite = fn(&[u8]) -> Option<Vec<u8>>;
const REWRITES: &[(&str, Rewrite)] = &[
    (
        "comma-joined identical Content-Length",
        collapse_length_lists,
    ),
    (
        "request-target characters hyper's Uri refuses",
        with_plain_target,
    ),
    ("absolute-form target without Host", with_host),
    ("parameters on transfer codings", without_coding_parameters),
];

/// `head` with the parameters of every transfer coding taken out (`chunked;q=1` becomes
/// `chunked`). RFC 9112 §7 lets a coding carry parameters and AWS's classifier calls them
/// compliant; hyper refuses them. Ballast frames by the coding's name and writes its own
/// `Transfer-Encoding` for the target, so no boundary moves.
fn without_coding_parameters(head: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(head.len());
    for line in head.split_inclusive(|&b| b == b'\n') {
        let name_end = line.iter().position(|&b| b == b':');
        let is_te = name_end.is_some_and(|i| line[..i].eq_ignore_ascii_case(b"transfer-encoding"));
        let (Some(colon), true) = (name_end, is_te) else {
            out.extend_from_slice(line);
            continue;
        };
        let eol = line
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(line.len());
        out.extend_from_slice(&line[..=colon]);
        let elements: Vec<&[u8]> = line[colon + 1..eol]
            .split(|&b| b == b',')
            .map(|e| e.split(|&b| b == b';').next().unwrap_or_default())
            .collect();
        out.extend_from_slice(&elements.join(&b","[..]));
        out.extend_from_slice(&line[eol..]);
    }
    (out != head).then_some(out)
}

/// `head` with a `Host` field after the request line, when it has none: Ballast takes an
/// absolute-form target's authority as the host (as NGINX does, docs/request-lifecycle.md)
/// where hyper wants the field as well; the authority does not frame anything.
fn with_host(head: &[u8]) -> Option<Vec<u8>> {
    let has_host = head
        .split(|&b| b == b'\n')
        .any(|line| line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"host:"));
    let start = head.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let line_end = start + head[start..].iter().position(|&b| b == b'\n')?;
    if has_host {
        return None;
    }
    let mut out = head[..=line_end].to_vec();
    out.extend_from_slice(b"Host: example.com\r\n");
    out.extend_from_slice(&head[line_end + 1..]);
    Some(out)
}

/// `head` with every `Content-Length` list value cut to its first element.
fn collapse_length_lists(head: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(head.len());
    for line in head.split_inclusive(|&b| b == b'\n') {
        let name_end = line.iter().position(|&b| b == b':');
        let is_length = name_end.is_some_and(|i| line[..i].eq_ignore_ascii_case(b"content-length"));
        match (is_length, name_end, line.iter().position(|&b| b == b',')) {
            (true, Some(colon), Some(comma)) => {
                let eol = line.iter().position(|&b| b == b'\r' || b == b'\n');
                out.extend_from_slice(&line[..comma.max(colon + 1)]);
                out.extend_from_slice(&line[eol.unwrap_or(line.len())..]);
            }
            _ => out.extend_from_slice(line),
        }
    }
    (out != head).then_some(out)
}

/// `head` with its request target replaced by `/`, when it has a request line of the form
/// `method SP target SP version` (after any empty lines before it).
fn with_plain_target(head: &[u8]) -> Option<Vec<u8>> {
    let start = head.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let line_end = start + head[start..].iter().position(|&b| b == b'\n')?;
    let line = &head[start..line_end];
    let first = line.iter().position(|&b| b == b' ')?;
    let last = line.iter().rposition(|&b| b == b' ')?;
    if last <= first + 1 || line[first + 1..last] == *b"/" {
        return None;
    }
    let mut out = head[..start + first + 1].to_vec();
    out.push(b'/');
    out.extend_from_slice(&head[start + last..]);
    Some(out)
}
