//! One HTTP/1 request: from its parsed head to the last byte of its response. Decides with
//! [`decide`], answers locally (redirects, fixed responses, errors) or forwards through
//! [`Attempts`], then streams the target's response back.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio::time::Sleep;

use super::client_body::ClientBody;
use super::fields::{Field, FieldKind};
use super::io::{write_all, ClientIo};
use super::request::{BodyKind, MethodKind, RequestHead};
use super::response::{ResponseBody, ResponseHead};
use super::server::H1Conn;
use super::stream::Download;
use super::write::{
    write_request_head, write_response_head, Added, ClientFraming, Connection, ResponseLine,
    TargetLine,
};
use crate::attempt::{answered, Try};
use crate::decide::{decide, unix_now, DecideInput, Forwarding, Verdict};
use crate::exchange::{ActionKind, Exchange, LogFacts};
use crate::fault::Fault;
use crate::forward::group_cookie;
use crate::head::{FieldLookup, H1Facts, RequestFacts};
use crate::ids::plan_ids;
use crate::local::Local;
use crate::relay::{relay, Relayed, RequestKind};
use crate::rewrite::HeaderOps;
use crate::sticky::{sets_cookie, stick};
use crate::upstream::Upload as _;
use crate::upstream::Upstream;

/// What the rest of the request needs from its head once the head's bytes are gone.
#[derive(Debug, Clone, Copy)]
pub(super) struct Basics {
    pub(super) minor: u8,
    pub(super) method: MethodKind,
    pub(super) body: BodyKind,
    pub(super) keep_alive: bool,
    pub(super) expect_continue: bool,
}

/// A request ready to go to a target: its head for the target, the rewrites of its
/// response, and when it began.
#[derive(Debug, Clone, Copy)]
struct Prepared<'a> {
    target_head: &'a [u8],
    response_ops: Option<&'a HeaderOps>,
    started: Instant,
}

/// How the request ended for its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Serve the next request.
    KeepAlive,
    /// Close the connection.
    Close,
    /// The connection opened with the HTTP/2 preface: hand it to HTTP/2.
    Http2,
}

impl<S: ClientIo> H1Conn<S> {
    /// Serves the request whose head is at the start of the read buffer.
    pub(super) async fn proxy(
        &mut self,
        head: RequestHead,
        fields: &[Field],
        mut sleep: Pin<&mut Sleep>,
    ) -> Next {
        let shared = Arc::clone(&self.ctx.listener);
        let snapshot = shared.snapshot.load();
        let mut exchange = Exchange::new(self.ctx.metrics.as_ref());
        let buf = self.rbuf.filled();
        let facts = H1Facts {
            buf,
            head: &head,
            fields,
        };
        if let Some(sink) = &snapshot.access_log {
            exchange.start_log(
                sink,
                &LogFacts {
                    listener: &shared.name.0,
                    client: self.ctx.peer,
                    scheme: self.ctx.scheme(),
                    method: head.method.of(buf),
                    authority: facts.authority(),
                    target: head.target.of(buf),
                    version: if head.minor == 1 {
                        "HTTP/1.1"
                    } else {
                        "HTTP/1.0"
                    },
                    user_agent: facts.first_field("user-agent"),
                    tls: self.ctx.tls.as_deref(),
                },
            );
        }
        let basics = Basics {
            minor: head.minor,
            method: head.method_kind,
            body: head.body,
            keep_alive: head.keep_alive,
            expect_continue: head.expect_continue && head.minor == 1,
        };
        if self.ctx.tls.is_none()
            && facts
                .path()
                .starts_with(ballast_tls::HTTP01_PREFIX.as_bytes())
        {
            let path = std::str::from_utf8(facts.path()).unwrap_or("");
            if let Some(answer) = crate::local::acme_http01(&snapshot.acme, path) {
                exchange.action = ActionKind::FixedResponse;
                self.rbuf.consume(head.len);
                return self.local(basics, &answer, None, exchange, sleep).await;
            }
        }
        let Some(routes) = snapshot.listener(&shared.name) else {
            self.rbuf.consume(head.len);
            return self.fault(basics, Fault::NoTarget, exchange, sleep).await;
        };
        let now = Instant::now();
        let decision = decide(
            routes,
            &facts,
            &DecideInput {
                peer: self.ctx.peer_ip(),
                peer_text: self.ctx.peer_text.as_bytes(),
                now,
                unix_now: unix_now(),
                group_dice: fastrand::u64(..),
                pick_dice: fastrand::u64(..),
            },
        );
        if let Some(m) = &routes.rule_metrics {
            m.record_rule(decision.rule);
        }
        exchange.rule = decision.rule;
        let forwarding = match decision.verdict {
            Verdict::Forward(forwarding) => forwarding,
            Verdict::NoGroup => {
                self.rbuf.consume(head.len);
                return self.fault(basics, Fault::NoTarget, exchange, sleep).await;
            }
            Verdict::Redirect(config) => {
                exchange.action = ActionKind::Redirect;
                let reply = Local::redirect(&config, &facts, self.ctx.scheme(), &shared.port);
                self.rbuf.consume(head.len);
                return self
                    .local(
                        basics,
                        &reply,
                        decision.response_headers.as_deref(),
                        exchange,
                        sleep,
                    )
                    .await;
            }
            Verdict::Fixed(fixed) => {
                exchange.action = ActionKind::FixedResponse;
                self.rbuf.consume(head.len);
                let reply = Local::fixed(&fixed);
                return self
                    .local(
                        basics,
                        &reply,
                        decision.response_headers.as_deref(),
                        exchange,
                        sleep,
                    )
                    .await;
            }
        };
        if let Some(m) = &forwarding.group.metrics {
            m.requests.inc();
        }
        exchange.group = Some(Arc::clone(&forwarding.group));
        let mut target_head = shared.buffers.take();
        let ids = plan_ids(&facts, &mut exchange);
        render_target_head(
            &mut target_head,
            &facts,
            fields,
            &self.ctx,
            &ids,
            decision.request_headers.as_deref(),
        );
        drop(snapshot);
        self.rbuf.consume(head.len);
        let next = self
            .forward(
                basics,
                &forwarding,
                Prepared {
                    target_head: &target_head,
                    response_ops: decision.response_headers.as_deref(),
                    started: now,
                },
                exchange,
                sleep.as_mut(),
            )
            .await;
        shared.buffers.give(target_head);
        next
    }

    /// Sends the request to a target of `forwarding.group` (trying another one when the
    /// rules allow) and streams its response back.
    async fn forward(
        &mut self,
        basics: Basics,
        forwarding: &Forwarding,
        prepared: Prepared<'_>,
        mut exchange: Exchange,
        mut sleep: Pin<&mut Sleep>,
    ) -> Next {
        let Prepared {
            target_head,
            response_ops,
            started,
        } = prepared;
        let shared = Arc::clone(&self.ctx.listener);
        let kind = RequestKind {
            head: basics.method == MethodKind::Head,
            idempotent: basics.method.is_idempotent(),
            bodiless: basics.body == BodyKind::None,
        };
        let mut fields = shared.buffers.take_fields();
        let mut body = ClientBody::new(
            &mut self.io,
            &mut self.rbuf,
            &shared.buffers,
            basics.body,
            self.limits.max_header_bytes,
            basics.expect_continue,
        );
        if exchange.logging() {
            exchange.sending(started);
        }
        let outcome = relay(
            forwarding,
            kind,
            target_head,
            &mut body,
            &shared,
            &mut fields,
            started,
            sleep.as_mut(),
        )
        .await;
        exchange.received = body.received;
        let upload_done = body.is_done();
        let untouched = !body.started();
        drop(body);
        let Relayed {
            tried,
            mut up,
            head,
            body_done,
        } = match outcome {
            Ok(relayed) => relayed,
            Err((fault, target)) => {
                exchange.target = target;
                shared.buffers.give_fields(fields);
                // What is left of the body is read and dropped only if none of it was taken.
                let basics = Basics {
                    keep_alive: basics.keep_alive && (upload_done || untouched),
                    body: if untouched {
                        basics.body
                    } else {
                        BodyKind::None
                    },
                    ..basics
                };
                return self.fault(basics, fault, exchange, sleep).await;
            }
        };
        let keep = basics.keep_alive && upload_done && body_done;
        let (next, complete) = self
            .respond(
                basics,
                keep,
                forwarding,
                &tried,
                &mut up,
                &head,
                &fields,
                response_ops,
                &mut exchange,
                sleep,
            )
            .await;
        exchange.target = Some(Arc::clone(&tried.target));
        drop(exchange);
        if complete && head.reusable && body_done {
            tried
                .target
                .pool
                .checkin(shared.worker, up, &shared.buffers, tried.started);
        }
        drop(tried);
        shared.buffers.give_fields(fields);
        next
    }

    /// Writes the target's response head and streams its body. Returns what happens to the
    /// client connection, and whether the whole body was read from the target.
    #[allow(clippy::too_many_arguments)]
    async fn respond(
        &mut self,
        basics: Basics,
        keep: bool,
        forwarding: &Forwarding,
        tried: &Try,
        up: &mut Upstream,
        head: &ResponseHead,
        fields: &[Field],
        response_ops: Option<&HeaderOps>,
        exchange: &mut Exchange,
        sleep: Pin<&mut Sleep>,
    ) -> (Next, bool) {
        let shared = Arc::clone(&self.ctx.listener);
        let group = &forwarding.group;
        let at = answered(group, tried, head.status, exchange.logging());
        if let Some(m) = &group.metrics {
            m.responses.record(head.status);
        }
        exchange.answered(head.status, Some(at.unwrap_or(tried.started)));
        let framing = match head.body {
            ResponseBody::Chunked | ResponseBody::UntilClose if basics.minor == 1 => {
                ClientFraming::Chunked
            }
            ResponseBody::Chunked | ResponseBody::UntilClose => ClientFraming::Close,
            ResponseBody::None | ResponseBody::Length(_) => ClientFraming::AsIs,
        };
        let draining = self.draining.is_raised();
        let keep = keep && framing != ClientFraming::Close && !draining;
        let connection = connection_field(basics, keep);
        let buf = up.buf.filled();
        let cookies = response_cookies(forwarding, tried, buf, fields);
        let extra: Vec<&[u8]> = cookies.iter().map(|c| c.as_slice()).collect();
        let mut out = shared.buffers.take();
        let line = ResponseLine {
            status: head.status,
            reason: head.reason.of(buf),
            framing,
            connection,
        };
        write_response_head(
            &mut out,
            line,
            fields
                .iter()
                .map(|f| (f.name.of(buf), f.value.of(buf), f.kind)),
            &extra,
            response_ops,
        );
        up.buf.consume(head.len);
        let mut download = Download::new(head.body, framing);
        let streamed = match download.transform(up, &mut out) {
            Ok(()) => {
                download
                    .run(
                        &mut self.io,
                        up,
                        &mut out,
                        &shared.buffers,
                        sleep,
                        self.limits.idle_timeout,
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        exchange.sent(download.sent);
        shared.buffers.give(out);
        if let Err(error) = &streamed {
            tracing::debug!(listener = &*shared.name.0, %error, "response cut");
        }
        let next = if streamed.is_ok() && keep {
            Next::KeepAlive
        } else {
            Next::Close
        };
        (next, streamed.is_ok() && download.is_done())
    }

    /// Answers with a response of Ballast's own, then skips what is left of the request
    /// body so the connection can go on.
    pub(super) async fn local(
        &mut self,
        basics: Basics,
        reply: &Local,
        ops: Option<&HeaderOps>,
        mut exchange: Exchange,
        sleep: Pin<&mut Sleep>,
    ) -> Next {
        exchange.answered(reply.status, None);
        let shared = Arc::clone(&self.ctx.listener);
        let mut body = ClientBody::new(
            &mut self.io,
            &mut self.rbuf,
            &shared.buffers,
            basics.body,
            self.limits.max_header_bytes,
            false,
        );
        // A small rest of body is read and dropped (as NGINX does); a large one closes.
        let drained = reply.close
            || body.is_done()
            || crate::timer::within(
                sleep,
                self.limits.idle_timeout,
                std::pin::pin!(body.discard(DISCARD_LIMIT)),
            )
            .await
            .unwrap_or(false);
        exchange.received = body.received;
        drop(body);
        let keep = basics.keep_alive && drained && !reply.close && !self.draining.is_raised();
        let mut out = shared.buffers.take();
        reply.write_h1(
            &mut out,
            basics.method == MethodKind::Head,
            ops,
            connection_field(basics, keep),
        );
        if basics.method != MethodKind::Head {
            exchange.sent(reply.body.len() as u64);
        }
        let written = write_all(&mut self.io, &out).await;
        shared.buffers.give(out);
        drop(exchange);
        if written.is_ok() && keep {
            Next::KeepAlive
        } else {
            Next::Close
        }
    }

    /// Answers a fault with its error page (logged, counted).
    pub(super) async fn fault(
        &mut self,
        basics: Basics,
        fault: Fault,
        mut exchange: Exchange,
        sleep: Pin<&mut Sleep>,
    ) -> Next {
        let group = exchange.group.as_ref().map_or("-", |g| &*g.name.0);
        fault.log(
            &self.ctx.listener.name.0,
            group,
            exchange.target.as_ref().map(|t| t.address),
        );
        exchange.error_reason = Some(fault.reason());
        let reply = Local::error(fault.reply());
        self.local(basics, &reply, None, exchange, sleep).await
    }
}

/// Request bodies up to this size are read and dropped after a local answer, so the
/// connection can serve the next request.
const DISCARD_LIMIT: u64 = 64 * 1024;

/// The `Connection` field of a response.
fn connection_field(basics: Basics, keep: bool) -> Connection {
    match (keep, basics.minor) {
        (false, _) => Connection::Close,
        (true, 0) => Connection::KeepAlive,
        (true, _) => Connection::Default,
    }
}

/// Writes the request head for the target.
fn render_target_head(
    out: &mut Vec<u8>,
    facts: &H1Facts<'_>,
    fields: &[Field],
    ctx: &crate::conn::ConnCtx,
    ids: &crate::ids::Ids,
    ops: Option<&HeaderOps>,
) {
    let buf = facts.buf;
    let head = facts.head;
    let tls = ctx.tls.as_deref();
    let host = match (head.authority, head.host) {
        (Some(authority), _) => Some(authority.of(buf)),
        (None, Some(host)) => Some(host.of(buf)),
        (None, None) => None,
    };
    let added = Added {
        client: ctx.peer_text.as_bytes(),
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
    };
    let fields = fields
        .iter()
        .filter(|f| f.kind != FieldKind::Host)
        .map(|f| (f.name.of(buf), f.value.of(buf), f.kind));
    write_request_head(out, &line, fields, &added);
}

/// The `Set-Cookie` lines Ballast adds to a target's response: the target's sticky cookie
/// and the group cookie of a sticky weighted forward.
fn response_cookies(
    forwarding: &Forwarding,
    tried: &Try,
    buf: &[u8],
    fields: &[Field],
) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let group = &forwarding.group;
    if group.stickiness.is_none() && forwarding.group_cookie.is_none() {
        return lines;
    }
    let now = unix_now();
    let sets_app = |app: &str| {
        fields
            .iter()
            .filter(|f| f.kind == FieldKind::SetCookie)
            .any(|f| sets_cookie(f.value.of(buf), app))
    };
    if let Some(value) = stick(group, tried.target.id, forwarding.stuck, sets_app, now) {
        lines.push(format!("Set-Cookie: {value}").into_bytes());
    }
    if let Some((route, id)) = &forwarding.group_cookie {
        if let Some(value) = group_cookie(route, *id, now) {
            lines.push(format!("Set-Cookie: {value}").into_bytes());
        }
    }
    lines
}
