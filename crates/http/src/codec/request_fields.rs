//! The header fields of a request head: each recorded with its meaning, and from all of
//! them the body's framing, `Host`, keep-alive, upgrade, and the desync class of the
//! framing (RFC 9112 §6, read as AWS's classifier reads it).
//!
//! Framing towards the target is always Ballast's own: whatever framing fields the client
//! sent, the target receives one `Content-Length` or one `Transfer-Encoding`, never both,
//! so a request the class lets through reaches the target with one meaning.

use super::desync::{self, Codings, DesyncReason, FieldTier, Imitated};
use super::fields::{classify, tokens, valid_authority, Field, FieldKind, Span};
use super::request_head::{BodyKind, HeadError, MethodKind, RequestHead};

/// The version a head was read with, as far as framing cares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Version {
    /// `1` for HTTP/1.1 (and later HTTP/1 minors), `0` otherwise.
    pub(crate) minor: u8,
    /// HTTP/0.9 (a request line with no version), which has no body length at all.
    pub(crate) v09: bool,
}

/// What the `Content-Length` fields said.
#[derive(Debug, Default)]
pub(crate) struct Lengths {
    fields: u16,
    /// The first valid value.
    value: Option<u64>,
    /// The first severe finding (an invalid value, or two values that differ).
    severe: Option<DesyncReason>,
    duplicate: bool,
}

impl Lengths {
    /// Reads one `Content-Length` field's value.
    fn add(&mut self, value: &[u8]) {
        self.fields = self.fields.saturating_add(1);
        match (desync::length_value(value), self.value) {
            (None, _) => {
                self.severe.get_or_insert(DesyncReason::BadContentLength);
            }
            (Some(n), Some(first)) if n != first => {
                self.severe
                    .get_or_insert(DesyncReason::MultipleContentLength);
            }
            (Some(_), Some(_)) => self.duplicate = true,
            (Some(n), None) => self.value = Some(n),
        }
    }
}

/// One header line: name, value, and whether a colon separated them.
pub(crate) type Line<'b> = (&'b [u8], &'b [u8], bool);

/// Records every field with its meaning, and settles framing, `Host`, keep-alive and the
/// desync class. `lenient`: the fields come from the lenient reading and may hold any
/// byte; otherwise httparse has checked their syntax.
pub(crate) fn read_fields<'b>(
    buf: &'b [u8],
    parsed: impl Iterator<Item = Line<'b>>,
    head: &mut RequestHead,
    version: Version,
    lenient: bool,
    fields: &mut Vec<Field>,
) -> Result<(), HeadError> {
    // What frames the body (the real fields), and what the class is read from (those and
    // their imitations, which some engine may obey).
    let (mut lengths, mut all_lengths) = (Lengths::default(), Lengths::default());
    let (mut codings, mut all_codings) = (Codings::default(), Codings::default());
    let mut hosts = 0usize;
    let mut listed = false;
    let mut close = false;
    let mut connection_upgrade = false;
    let mut upgrade = None;
    let verdict = &mut head.desync;
    for (name, value, colon) in parsed {
        let (kind, imitation) = if lenient {
            lenient_kind(name, value, colon, verdict)
        } else {
            let kind = classify(name);
            match desync::imitated(name) {
                Some(imitated) if matches!(kind, FieldKind::Plain | FieldKind::Lookalike) => {
                    verdict.raise(DesyncReason::SuspiciousHeader);
                    (FieldKind::Lookalike, Some(imitated))
                }
                _ => (kind, None),
            }
        };
        match imitation {
            Some(Imitated::ContentLength) => all_lengths.add(value),
            Some(Imitated::TransferEncoding) => all_codings.add(value),
            None => {}
        }
        match kind {
            FieldKind::Host => {
                hosts += 1;
                if hosts > 1 || !valid_authority(value) {
                    return Err(HeadError::InvalidHost);
                }
                head.host = Some(Span::within(buf, value));
            }
            FieldKind::ContentLength => {
                lengths.add(value);
                all_lengths.add(value);
            }
            FieldKind::TransferEncoding => {
                codings.add(value);
                all_codings.add(value);
            }
            FieldKind::Connection => {
                for option in tokens(value) {
                    if option.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if option.eq_ignore_ascii_case(b"keep-alive") {
                        head.keep_alive = head.keep_alive || version.minor == 0;
                    } else if option.eq_ignore_ascii_case(b"upgrade") {
                        connection_upgrade = true;
                    } else {
                        listed = true;
                    }
                }
            }
            FieldKind::Expect => {
                head.expect_continue = value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
            }
            FieldKind::Upgrade if upgrade.is_none() => upgrade = Some(value),
            _ => {}
        }
        fields.push(Field {
            name: Span::within(buf, name),
            value: Span::within(buf, value),
            kind,
        });
    }
    // `close` wins over `keep-alive` whatever their order.
    if close {
        head.keep_alive = false;
    }
    classify_framing(head, version, &all_codings, &all_lengths);
    head.body = framing(head, &codings, &lengths);
    // HTTP/1.0 has no upgrades; `h2c` asks Ballast itself to switch, which it does not
    // (HTTP/2 cleartext is served with prior knowledge), so that request is served as it is.
    head.upgrade = upgrade
        .filter(|protocols| {
            connection_upgrade
                && version.minor == 1
                && !tokens(protocols).any(|p| p.eq_ignore_ascii_case(b"h2c"))
                && tokens(protocols).next().is_some()
        })
        .map(|protocols| Span::within(buf, protocols));
    if hosts == 0 && version.minor == 1 && head.authority.is_none() {
        return Err(HeadError::MissingHost);
    }
    if listed {
        mark_listed(buf, fields);
    }
    Ok(())
}

/// The meaning of a field read leniently (and the framing field it imitates), its tier
/// counted in `verdict`: fields that are not `token: value` with field characters are
/// never forwarded.
fn lenient_kind(
    name: &[u8],
    value: &[u8],
    colon: bool,
    verdict: &mut DesyncReason,
) -> (FieldKind, Option<Imitated>) {
    let tier = desync::field_tier(name, value);
    desync::field(verdict, tier);
    if !colon {
        verdict.raise(match name.first() {
            Some(b' ' | b'\t') => DesyncReason::MultilineHeader,
            _ => DesyncReason::MissingHeaderColon,
        });
        return (FieldKind::Invalid, None);
    }
    let trimmed = name.trim_ascii();
    if trimmed.is_empty() || trimmed[0] == b':' {
        verdict.raise(DesyncReason::EmptyHeader);
        return (FieldKind::Invalid, None);
    }
    let imitation = desync::imitated(name).filter(|_| tier != FieldTier::Bad);
    if imitation.is_some() {
        verdict.raise(DesyncReason::SuspiciousHeader);
    }
    if !name.iter().all(|&b| desync::is_tchar(b)) {
        return (FieldKind::Invalid, imitation);
    }
    let kind = match classify(name) {
        // The value of a framing field is read whatever its tier: a bad one frames nothing.
        kind @ (FieldKind::ContentLength | FieldKind::TransferEncoding) => kind,
        _ if tier == FieldTier::Bad => FieldKind::Invalid,
        FieldKind::Plain if imitation.is_some() => FieldKind::Lookalike,
        kind => kind,
    };
    (kind, imitation)
}

/// The class the framing fields (and their imitations) give the request, checked in the
/// classifier's order.
fn classify_framing(
    head: &mut RequestHead,
    version: Version,
    codings: &Codings,
    lengths: &Lengths,
) {
    let verdict = &mut head.desync;
    let te = codings.fields > 0;
    let cl = lengths.fields > 0;
    if version.minor == 0 && te {
        verdict.raise(DesyncReason::UndefinedTransferEncodingSemantics);
    } else if version.v09 && cl {
        verdict.raise(DesyncReason::UndefinedContentLengthSemantics);
    } else if te || cl {
        if let Some(reason) = codings.severe {
            verdict.raise(reason);
        }
        if let Some(reason) = lengths.severe {
            verdict.raise(reason);
        }
        if lengths.duplicate {
            verdict.raise(DesyncReason::DuplicateContentLength);
        }
        if matches!(head.method_kind, MethodKind::Get | MethodKind::Head) {
            if te {
                verdict.raise(DesyncReason::UndefinedTransferEncodingSemantics);
            }
            match lengths.value {
                Some(0) => verdict.raise(DesyncReason::GetHeadZeroContentLength),
                Some(_) => verdict.raise(DesyncReason::UndefinedContentLengthSemantics),
                None => {}
            }
        }
        if te && lengths.value.is_some() {
            verdict.raise(DesyncReason::BothTeClPresent);
        }
    }
}

/// The body's framing from the real framing fields. Where they disagree, the reading
/// chosen ends the request soonest and most surely, and the class (ambiguous or severe)
/// makes sure nothing follows it on either connection.
fn framing(head: &mut RequestHead, codings: &Codings, lengths: &Lengths) -> BodyKind {
    let te = codings.fields > 0;
    let length = lengths.value.filter(|_| lengths.severe.is_none());
    if te && codings.frames() {
        head.codings = codings.others;
        return BodyKind::Chunked;
    }
    if te && length.is_none() {
        // Codings that do not end in one `chunked`, and no length beside them: where the
        // body ends cannot be known (RFC 9112 §6.3 asks for a 400).
        head.desync.raise(DesyncReason::BadTransferEncoding);
    }
    match length {
        None | Some(0) => BodyKind::None,
        Some(n) => BodyKind::Length(n),
    }
}

/// Marks the fields a `Connection` option names as hop-by-hop for this message (RFC 9110
/// §7.6.1). `Host` stays: no legitimate client marks it, and dropping it would make the
/// message unroutable.
pub(crate) fn mark_listed(buf: &[u8], fields: &mut [Field]) {
    let mut names: [&[u8]; 16] = [&[]; 16];
    let mut n = 0;
    for f in fields.iter().filter(|f| f.kind == FieldKind::Connection) {
        for option in tokens(f.value.of(buf)) {
            if n < names.len() {
                names[n] = option;
                n += 1;
            }
        }
    }
    for f in fields.iter_mut() {
        let droppable = matches!(
            f.kind,
            FieldKind::Plain
                | FieldKind::Cookie
                | FieldKind::Expect
                | FieldKind::RequestId
                | FieldKind::TraceParent
                | FieldKind::TraceState
                | FieldKind::SetCookie
        );
        if droppable
            && names[..n]
                .iter()
                .any(|o| o.eq_ignore_ascii_case(f.name.of(buf)))
        {
            f.kind = FieldKind::Listed;
        }
    }
}
