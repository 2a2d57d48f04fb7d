//! Answers to an HTTP/1 client: a target's response streamed back, or one of Ballast's own
//! (redirects, fixed responses, error pages), with the connection kept or closed as the
//! exchange allows.

use std::pin::Pin;
use std::sync::Arc;

use tokio::time::Sleep;

use super::client_body::ClientBody;
use super::conn::{Basics, H1Conn, Next};
use super::io::{write_all, ClientIo};
use super::stream::Download;
use crate::attempt::{record_answer, Try};
use crate::codec::fields::{Field, FieldKind};
use crate::codec::request::MethodKind;
use crate::codec::response::{ResponseBody, ResponseHead};
use crate::codec::write::{write_response_head, ClientFraming, Connection, ResponseLine};
use crate::decide::Forwarding;
use crate::exchange::Exchange;
use crate::fault::Fault;
use crate::local::Local;
use crate::rewrite::HeaderOps;
use crate::sticky::sets_cookie;
use crate::upstream::Upstream;

impl<S: ClientIo> H1Conn<S> {
    /// Writes the target's response head and streams its body. Returns what happens to the
    /// client connection, and whether the whole body was read from the target.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn respond(
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
        record_answer(&forwarding.group, tried, head.status, exchange);
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
            length: head.length,
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
    /// body so the connection can go on. A client waiting for `100 Continue` is answered at
    /// once and the connection closed (RFC 9110 §10.1.1), rather than made to send a body
    /// that would be dropped. The answer is written within the idle timeout: a client that
    /// does not read it is closed.
    pub(super) async fn local(
        &mut self,
        basics: Basics,
        reply: &Local,
        ops: Option<&HeaderOps>,
        mut exchange: Exchange,
        mut sleep: Pin<&mut Sleep>,
    ) -> Next {
        exchange.answered(reply.status, None);
        let shared = Arc::clone(&self.ctx.listener);
        let waits_for_continue = basics.expect_continue && self.rbuf.is_empty();
        let mut body = ClientBody::new(
            &mut self.io,
            &mut self.rbuf,
            &shared.buffers,
            basics.body,
            self.limits.max_header_bytes,
            false,
        );
        // A small rest of body is read and dropped (as NGINX does); a large one closes.
        let drained = body.is_done()
            || (!reply.close
                && !waits_for_continue
                && crate::timer::within(
                    sleep.as_mut(),
                    self.limits.idle_timeout,
                    std::pin::pin!(body.discard(DISCARD_LIMIT)),
                )
                .await
                .unwrap_or(false));
        exchange.received = body.received;
        self.linger |= !drained;
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
        let written = crate::timer::within(
            sleep,
            self.limits.idle_timeout,
            std::pin::pin!(write_all(&mut self.io, &out)),
        )
        .await;
        shared.buffers.give(out);
        drop(exchange);
        if matches!(written, Ok(Ok(()))) && keep {
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
        if let Some(limit) = fault.limit() {
            exchange.limit_hit(limit);
        }
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

/// The `Set-Cookie` lines Ballast adds to a target's response: the target's sticky cookie
/// and the group cookie of a sticky weighted forward.
pub(super) fn response_cookies(
    forwarding: &Forwarding,
    tried: &Try,
    buf: &[u8],
    fields: &[Field],
) -> Vec<Vec<u8>> {
    if forwarding.group.stickiness.is_none() && forwarding.group_cookie.is_none() {
        return Vec::new();
    }
    let sets_app = |app: &str| {
        fields
            .iter()
            .filter(|f| f.kind == FieldKind::SetCookie)
            .any(|f| sets_cookie(f.value.of(buf), app))
    };
    forwarding
        .set_cookies(tried.target.id, sets_app)
        .map(|value| format!("Set-Cookie: {value}").into_bytes())
        .collect()
}
