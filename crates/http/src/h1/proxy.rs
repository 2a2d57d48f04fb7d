//! One HTTP/1 request: from its parsed head to the last byte of its response. Decides with
//! [`decide`], answers locally (redirects, fixed responses, errors) or forwards through
//! [`Attempts`], then streams the target's response back.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use ballast_telemetry::metrics::Limit;
use tokio::time::Sleep;

use super::client_body::ClientBody;
use super::conn::{Basics, H1Conn, Next};
use super::io::ClientIo;
use super::switch::Switch;
use super::target_head::render_target_head;
use crate::codec::fields::Field;
use crate::codec::request::{BodyKind, MethodKind, RequestHead};
use crate::decide::{decide, unix_now, DecideInput, Forwarding, Verdict};
use crate::exchange::{ActionKind, Exchange, LogFacts};
use crate::fault::Fault;
use crate::head::{FieldLookup, H1Facts, RequestFacts};
use crate::ids::plan_ids;
use crate::local::Local;
use crate::relay::{relay, Relayed, RequestKind};
use crate::rewrite::HeaderOps;
use crate::upstream::Upload as _;

/// A request ready to go to a target: its head for the target, the rewrites of its
/// response, and when it began.
#[derive(Debug, Clone, Copy)]
pub(super) struct Prepared<'a> {
    pub(super) target_head: &'a [u8],
    pub(super) response_ops: Option<&'a HeaderOps>,
    pub(super) started: Instant,
    /// When the request's first byte arrived (as far as is known), for `request_timeout`.
    pub(super) began: Instant,
}

impl<S: ClientIo> H1Conn<S> {
    /// Serves the request whose head is at the start of the read buffer.
    pub(super) async fn proxy(
        &mut self,
        head: RequestHead,
        fields: &[Field],
        began: Option<Instant>,
        mut sleep: Pin<&mut Sleep>,
    ) -> Next {
        let shared = Arc::clone(&self.ctx.listener);
        let mut snapshot = shared.snapshot.load();
        let body_limit = snapshot
            .listener(&shared.name)
            .and_then(|r| r.waf_body_limit);
        let mut continued = false;
        if let Some(limit) = body_limit {
            // Not held across the wait for the body.
            drop(snapshot);
            match self.read_waf_body(&head, limit, sleep.as_mut()).await {
                Some(sent) => continued = sent,
                // The body's first bytes did not come within the header timeout: closed
                // unanswered, as a head that does not come in time.
                None => return Next::Close,
            }
            snapshot = shared.snapshot.load();
        }
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
                    desync: Some(head.desync),
                },
            );
        }
        // The connection's last request under `max_requests_per_connection`: answered with
        // `Connection: close`.
        let last = self
            .limits
            .max_requests_per_connection
            .is_some_and(|max| u64::from(self.served) + 1 >= max);
        if last && head.keep_alive {
            if let Some(m) = &self.ctx.metrics {
                m.limit_hit(Limit::MaxRequestsPerConnection);
            }
        }
        let basics = Basics {
            minor: head.minor,
            method: head.method_kind,
            body: head.body,
            keep_alive: head.keep_alive && !last,
            expect_continue: head.expect_continue && head.minor == 1 && !continued,
            upgrade: head.upgrade.is_some(),
            codings: head.codings,
            close_target: head.desync.class() >= crate::codec::desync::DesyncClass::Ambiguous,
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
        let peer_text = self.ctx.peer_text();
        let decision = decide(
            routes,
            &facts,
            &DecideInput {
                peer: self.ctx.peer_ip(),
                peer_text: peer_text.as_bytes(),
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
        // In a block: the request's `dyn` view must not live across an await.
        let limited = {
            let request = (&facts as &dyn RequestFacts, self.ctx.peer_ip());
            let limit = decision.rate_limit.as_deref();
            let mut decoded = Vec::new();
            let body = super::waf_body::waf_body(buf, &head, body_limit, &mut decoded);
            let waf = decision.waf.as_deref();
            crate::rate::limited(routes, limit, request, &mut exchange)
                .or_else(|| crate::waf::screened(routes, waf, request, body, &mut exchange))
        };
        // A forward goes on below; every answer Ballast gives itself leaves here.
        let answer = match (limited, decision.verdict) {
            (Some(reply), _) => Err(reply),
            (None, Verdict::Forward(forwarding)) => Ok(forwarding),
            (None, Verdict::NoGroup) => {
                self.rbuf.consume(head.len);
                return self.fault(basics, Fault::NoTarget, exchange, sleep).await;
            }
            (None, Verdict::Redirect(config)) => {
                exchange.action = ActionKind::Redirect;
                Err(Local::redirect(
                    &config,
                    &facts,
                    self.ctx.scheme(),
                    &shared.port,
                ))
            }
            (None, Verdict::Fixed(fixed)) => {
                exchange.action = ActionKind::FixedResponse;
                Err(Local::fixed(&fixed))
            }
        };
        let forwarding = match answer {
            Ok(forwarding) => forwarding,
            Err(reply) => {
                self.rbuf.consume(head.len);
                let ops = decision.response_headers.as_deref();
                return self.local(basics, &reply, ops, exchange, sleep).await;
            }
        };
        if let Some(m) = &forwarding.group.metrics {
            m.requests.inc();
        }
        exchange.group = Some(Arc::clone(&forwarding.group));
        let mut target_head = shared.buffers.take_head();
        let ids = plan_ids(&facts, &mut exchange);
        render_target_head(
            &mut target_head,
            &facts,
            fields,
            (&self.ctx, peer_text.as_bytes()),
            &ids,
            decision.request_headers.as_deref(),
        );
        drop(snapshot);
        self.rbuf.consume(head.len);
        // Nothing more of the client's is read until its body is (or the next request): a
        // request waiting for its target holds no client buffer when nothing is pipelined.
        self.rbuf.release(&shared.buffers);
        let next = self
            .forward(
                basics,
                &forwarding,
                Prepared {
                    target_head: &target_head,
                    response_ops: decision.response_headers.as_deref(),
                    started: now,
                    began: began.unwrap_or(now),
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
            began,
        } = prepared;
        // HTTP/2 groups (WebSocket upgrades still go as HTTP/1.1).
        if forwarding.group.protocol_version != ballast_config::ProtocolVersion::Http1
            && !basics.upgrade
        {
            if basics.codings {
                // HTTP/2 has no transfer codings: the target would take gzip bytes as the
                // body itself.
                let fault = Fault::Head(crate::codec::HeadError::BadTransferEncoding);
                return self.fault(basics, fault, exchange, sleep).await;
            }
            // Boxed, as the tunnel below: the future of every request in progress is as
            // large as its largest path, and these two are the rare ones.
            return Box::pin(self.forward_h2(basics, forwarding, prepared, exchange, sleep)).await;
        }
        let shared = Arc::clone(&self.ctx.listener);
        let kind = RequestKind {
            head: basics.method == MethodKind::Head,
            idempotent: basics.method.is_idempotent(),
            bodiless: basics.body == BodyKind::None,
            upgrade: basics.upgrade,
            due: self.limits.request_timeout.map(|t| began + t),
            min_rate: self.limits.min_body_rate,
        };
        if forwarding.group.proxy_protocol.is_some() && self.ctx.destination.is_none() {
            // Looked up once per client connection, not per request.
            self.ctx.destination = self.io.local_addr().ok().map(Box::new);
        }
        let proxy = self.ctx.proxy_header(&forwarding.group);
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
        if basics.upgrade {
            exchange.upgrade_asked();
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
            proxy.as_ref(),
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
            request_sent,
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
        // The client's framing is intact once its whole body was read.
        let keep = basics.keep_alive && upload_done;
        self.linger |= !upload_done;
        let (next, complete) = if head.status == 101 {
            let switch = Switch {
                forwarding,
                tried: &tried,
                head: &head,
                fields: &fields,
                response_ops,
            };
            let next = Box::pin(self.switch(switch, &mut up, &mut exchange, sleep)).await;
            (next, false)
        } else {
            self.respond(
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
            .await
        };
        exchange.target = Some(Arc::clone(&tried.target));
        drop(exchange);
        if complete && head.reusable && request_sent && !basics.close_target {
            tried
                .target
                .pool
                .checkin(shared.worker, up, &shared.buffers);
        }
        drop(tried);
        shared.buffers.give_fields(fields);
        next
    }
}
