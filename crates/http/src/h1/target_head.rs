//! The request head a target receives from an HTTP/1 client's request: the client's
//! end-to-end fields as they came, Ballast's forwarding fields, the rewrites, and framing.

use crate::codec::fields::{Field, FieldKind};
use crate::codec::write::{write_request_head, Added, TargetLine};
use crate::head::H1Facts;
use crate::rewrite::HeaderOps;

/// Writes the request head for the target.
pub(super) fn render_target_head(
    out: &mut Vec<u8>,
    facts: &H1Facts<'_>,
    fields: &[Field],
    (ctx, client): (&crate::conn::ConnCtx, &[u8]),
    ids: &crate::ids::Ids,
    ops: Option<&HeaderOps>,
) {
    let buf = facts.buf;
    let head = facts.head;
    let tls = ctx.tls.as_deref();
    let host = match (head.authority, head.host) {
        (Some(authority), _) => Some(authority.of(buf)),
        (None, Some(host)) => Some(host.of(buf)),
        // HTTP/1.0 without Host: targets receive HTTP/1.1, which needs one.
        (None, None) => Some(&*ctx.listener.authority),
    };
    let added = Added {
        client,
        proto: ctx.scheme().as_bytes(),
        port: &ctx.listener.port,
        request_id: ids.request_id.as_ref().map(|id| &id[..]),
        traceparent: ids.traceparent.as_ref().map(|t| &t[..]),
        tls: match tls {
            Some(t) => [
                Some((&b"X-Forwarded-Tls-Version"[..], t.version.as_bytes())),
                Some((&b"X-Forwarded-Tls-Cipher"[..], t.cipher.as_bytes())),
                t.client_cert
                    .as_ref()
                    .map(|c| (&b"X-Client-Cert"[..], c.as_bytes())),
            ],
            None => [None, None, None],
        },
        ops,
    };
    let line = TargetLine {
        method: head.method.of(buf),
        path: head.path.of(buf),
        query: head.query.map(|q| q.of(buf)),
        host,
        body: head.body,
        codings: head.codings,
        escape: head.lenient,
        close: head.desync.class() >= crate::codec::desync::DesyncClass::Ambiguous,
        upgrade: head.upgrade.map(|u| u.of(buf)),
    };
    let fields = fields
        .iter()
        .filter(|f| f.kind != FieldKind::Host)
        .map(|f| (f.name.of(buf), f.value.of(buf), f.kind));
    write_request_head(out, &line, fields, &added);
}
