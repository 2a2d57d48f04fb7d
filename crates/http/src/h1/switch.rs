//! An upgrade the target accepted (`101 Switching Protocols`, WebSocket): its head goes to
//! the client, then the connection is a tunnel until either side ends it.

use std::pin::Pin;
use std::sync::Arc;

use tokio::time::Sleep;

use super::conn::{H1Conn, Next};
use super::io::{write_all, ClientIo};
use super::respond::response_cookies;
use crate::attempt::{record_answer, Try};
use crate::codec::fields::{Field, FieldKind};
use crate::codec::response::ResponseHead;
use crate::codec::write::{write_response_head, ClientFraming, Connection, ResponseLine};
use crate::decide::Forwarding;
use crate::exchange::Exchange;
use crate::rewrite::HeaderOps;
use crate::tunnel::{tunnel, Ending};
use crate::upstream::Upstream;

/// What the `101` came with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Switch<'a> {
    pub(super) forwarding: &'a Forwarding,
    pub(super) tried: &'a Try,
    pub(super) head: &'a ResponseHead,
    pub(super) fields: &'a [Field],
    pub(super) response_ops: Option<&'a HeaderOps>,
}

impl<S: ClientIo> H1Conn<S> {
    /// Passes the target's `101` to the client and carries the bytes both ways until the
    /// tunnel ends; the client connection closes with it. The try stays open meanwhile, so
    /// the tunnel counts as a request in flight and a connection on its target.
    pub(super) async fn switch(
        &mut self,
        switch: Switch<'_>,
        up: &mut Upstream,
        exchange: &mut Exchange,
        mut sleep: Pin<&mut Sleep>,
    ) -> Next {
        let Switch {
            forwarding,
            tried,
            head,
            fields,
            response_ops,
        } = switch;
        let shared = Arc::clone(&self.ctx.listener);
        record_answer(&forwarding.group, tried, head.status, exchange);
        let buf = up.buf.filled();
        let mut extra = response_cookies(forwarding, tried, buf, fields);
        // The target names the protocol it switched to (RFC 9110 §15.2.2); `Upgrade` is
        // hop-by-hop, so it is written afresh, as `Connection: upgrade` is.
        if let Some(protocols) = fields.iter().find(|f| f.kind == FieldKind::Upgrade) {
            let mut line = b"Upgrade: ".to_vec();
            line.extend_from_slice(protocols.value.of(buf));
            extra.push(line);
        }
        let extra: Vec<&[u8]> = extra.iter().map(|c| c.as_slice()).collect();
        let mut out = shared.buffers.take();
        write_response_head(
            &mut out,
            ResponseLine {
                status: head.status,
                reason: head.reason.of(buf),
                framing: ClientFraming::AsIs,
                length: None,
                connection: Connection::Upgrade,
            },
            fields
                .iter()
                .map(|f| (f.name.of(buf), f.value.of(buf), f.kind)),
            &extra,
            response_ops,
        );
        up.buf.consume(head.len);
        let written = crate::timer::within(
            sleep.as_mut(),
            self.limits.idle_timeout,
            std::pin::pin!(write_all(&mut self.io, &out)),
        )
        .await;
        shared.buffers.give(out);
        if !matches!(written, Ok(Ok(()))) {
            return Next::Close;
        }
        exchange.switched();
        let end = tunnel(
            &mut self.io,
            &mut self.rbuf,
            up,
            &shared.buffers,
            sleep,
            self.limits.upgrade_idle_timeout,
        )
        .await;
        exchange.tunnel_closed(end.from_client, end.from_target);
        match &end.ending {
            Ending::Closed => {}
            Ending::Idle => {
                tracing::debug!(listener = &*shared.name.0, "tunnel idle: closed");
            }
            Ending::Client(error) | Ending::Target(error) => {
                tracing::debug!(listener = &*shared.name.0, %error, "tunnel ended");
            }
        }
        Next::Close
    }
}
