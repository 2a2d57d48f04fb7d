//! An HTTP/1 request forwarded to an HTTP/2 group: its head goes out as an HTTP/2 stream,
//! its body is read from the client unframed and sent as DATA frames (a chunked body's
//! trailers as HTTP/2 trailers), and the target's response comes back framed for HTTP/1:
//! with its `Content-Length` when it has one, else chunked (its trailers in the last chunk),
//! or until the connection closes for an HTTP/1.0 client.
//!
//! The body is sent whole before the response is written back: an HTTP/1 exchange is a
//! request, then a response.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header;
use http_body::{Body as _, Frame};
use tokio::sync::mpsc;
use tokio::time::Sleep;

use super::client_body::ClientBody;
use super::conn::{Basics, H1Conn, Next};
use super::io::{write_all, ClientIo};
use super::proxy::Prepared;
use crate::attempt::record_answer;
use crate::codec::write::{write_response_head, Connection, ResponseLine};
use crate::codec::{
    classify, trailer_fields, write_chunk_head, BodyKind, ClientFraming, HeadError, MethodKind,
};
use crate::decide::Forwarding;
use crate::exchange::Exchange;
use crate::fault::{BodyError, Fault};
use crate::relay_h2::{relay_h2, H2Head, H2Relayed};
use crate::sticky::sets_app_cookie;
use crate::timer::within;
use crate::upstream::{OutBody, Upload as _};

/// Body frames queued towards the target before the pump waits for the stream to take them.
const QUEUED_FRAMES: usize = 4;

impl<S: ClientIo> H1Conn<S> {
    /// Sends the request to an HTTP/2 target of `forwarding.group` and writes its response.
    pub(super) async fn forward_h2(
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
            ..
        } = prepared;
        let shared = Arc::clone(&self.ctx.listener);
        let group = &forwarding.group;
        let Some(head) = H2Head::from_h1(target_head, group.tls.is_some()) else {
            let malformed = Fault::Head(HeadError::Malformed("request not expressible in HTTP/2"));
            return self.fault(basics, malformed, exchange, sleep).await;
        };
        let (frames, receiver) = mpsc::channel(QUEUED_FRAMES);
        let out_body = match basics.body {
            BodyKind::None | BodyKind::Length(0) => OutBody::Empty,
            _ => OutBody::Pumped(receiver),
        };
        if exchange.logging() {
            exchange.sending(started);
        }
        let timeout = group.response_timeout;
        let mut body = ClientBody::new(
            &mut self.io,
            &mut self.rbuf,
            &shared.buffers,
            basics.body,
            self.limits.max_header_bytes,
            basics.expect_continue,
        )
        .unframed();
        let relay = relay_h2(forwarding, &head, out_body, &shared, started, timeout);
        let pump = pump(&mut body, frames, timeout);
        let (relayed, pumped) = tokio::join!(relay, pump);
        exchange.received = body.received;
        let upload_done = body.is_done();
        drop(body);
        let outcome = match (relayed, pumped) {
            (Ok(relayed), Ok(())) => Ok(relayed),
            // The client's failure (a body cut short or stalled) is its own, whatever the
            // relay then made of the stream it left unfinished.
            (_, Err(fault)) => Err((fault, None)),
            (Err(failed), Ok(())) => Err(failed),
        };
        let relayed = match outcome {
            Ok(relayed) => relayed,
            Err((fault, target)) => {
                exchange.target = target;
                let basics = Basics {
                    keep_alive: false,
                    body: BodyKind::None,
                    ..basics
                };
                self.linger |= !upload_done;
                return self.fault(basics, fault, exchange, sleep).await;
            }
        };
        let H2Relayed { tried, response } = relayed;
        let status = response.status().as_u16();
        record_answer(group, &tried, status, &mut exchange);
        exchange.target = Some(Arc::clone(&tried.target));
        let (parts, mut incoming) = response.into_parts();
        let head_request = basics.method == MethodKind::Head;
        let length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| crate::codec::content_length(v.as_bytes()));
        let bodiless =
            head_request || status == 204 || status == 304 || (100..200).contains(&status);
        let framing = match (bodiless, length) {
            (true, _) | (false, Some(_)) => ClientFraming::AsIs,
            (false, None) if basics.minor == 1 => ClientFraming::Chunked,
            (false, None) => ClientFraming::Close,
        };
        let keep =
            basics.keep_alive && framing != ClientFraming::Close && !self.draining.is_raised();
        let mut out = shared.buffers.take();
        let cookies: Vec<Vec<u8>> = forwarding
            .set_cookies(tried.target.id, |app| sets_app_cookie(&parts.headers, app))
            .map(|c| format!("Set-Cookie: {c}").into_bytes())
            .collect();
        let extra: Vec<&[u8]> = cookies.iter().map(|c| c.as_slice()).collect();
        write_response_head(
            &mut out,
            ResponseLine {
                status,
                reason: b"",
                framing,
                length: length.filter(|_| status != 204),
                connection: match (keep, basics.minor) {
                    (false, _) => Connection::Close,
                    (true, 0) => Connection::KeepAlive,
                    (true, _) => Connection::Default,
                },
            },
            parts
                .headers
                .iter()
                .filter(|(name, _)| *name != header::CONTENT_LENGTH)
                .map(|(n, v)| {
                    (
                        n.as_str().as_bytes(),
                        v.as_bytes(),
                        classify(n.as_str().as_bytes()),
                    )
                }),
            &extra,
            response_ops,
        );
        let idle = self.limits.idle_timeout;
        let mut complete = bodiless;
        let mut trailers_written = false;
        let mut sent = 0u64;
        loop {
            if !out.is_empty() {
                let written = {
                    let write = std::pin::pin!(write_all(&mut self.io, &out));
                    within(sleep.as_mut(), idle, write).await
                };
                if !matches!(written, Ok(Ok(()))) {
                    break;
                }
                out.clear();
            }
            if complete {
                break;
            }
            let next = std::pin::pin!(std::future::poll_fn(
                |cx| Pin::new(&mut incoming).poll_frame(cx)
            ));
            match within(sleep.as_mut(), idle, next).await {
                Ok(Some(Ok(frame))) => match frame_for_client(frame, framing, &mut out) {
                    Some(bytes) => sent += bytes,
                    None => trailers_written = true,
                },
                Ok(None) => {
                    if framing == ClientFraming::Chunked && !trailers_written {
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                    complete = true;
                }
                Ok(Some(Err(error))) => {
                    tracing::debug!(%error, "HTTP/2 target's response cut");
                    break;
                }
                Err(_) => break,
            }
        }
        exchange.sent(sent);
        shared.buffers.give(out);
        drop(tried);
        drop(exchange);
        if complete && keep && upload_done {
            Next::KeepAlive
        } else {
            Next::Close
        }
    }
}

/// Moves the client's body into `frames` (DATA, then its trailers), each wait for the client
/// bounded by `timeout`. A client that stops sending is the client's fault (408); a stream
/// that stops taking frames (the target answered, or no target was reached) ends the pump
/// quietly, the relay's outcome saying what happened.
async fn pump<S: ClientIo>(
    body: &mut ClientBody<'_, S>,
    frames: mpsc::Sender<std::io::Result<Frame<Bytes>>>,
    timeout: Duration,
) -> Result<(), Fault> {
    if !body.is_done() {
        // A client waiting for `100 Continue` gets it now: an HTTP/2 target has no
        // interim answer to relay, and the body is read only to be sent on.
        let continued = std::future::poll_fn(|cx| body.poll_continue(cx)).await;
        if continued.is_err() {
            return Err(Fault::BadRequestBody(BodyError::Closed));
        }
    }
    while !body.is_done() {
        let mut chunk = Vec::new();
        let filled = tokio::time::timeout(
            timeout,
            std::future::poll_fn(|cx| body.poll_fill(cx, &mut chunk)),
        )
        .await;
        let done = match filled {
            Ok(Ok(done)) => done,
            Ok(Err(fault)) => {
                let _ = frames
                    .send(Err(std::io::Error::other("client body failed")))
                    .await;
                return Err(fault);
            }
            Err(_) => {
                let _ = frames
                    .send(Err(std::io::Error::other("client body stalled")))
                    .await;
                return Err(Fault::ClientBodyTimeout);
            }
        };
        if !chunk.is_empty()
            && frames
                .send(Ok(Frame::data(Bytes::from(chunk))))
                .await
                .is_err()
        {
            // The stream is gone (the target answered or failed, or none was reached): the
            // rest is not needed, and the relay says what happened.
            return Ok(());
        }
        if done {
            if let Some(trailers) = trailer_fields(body.trailer_section()) {
                let _ = frames.send(Ok(Frame::trailers(trailers))).await;
            }
        }
    }
    Ok(())
}

/// Appends a response frame for the client; returns the body bytes it carried, or `None`
/// for trailers (the body's end for a chunked client, dropped for others).
fn frame_for_client(frame: Frame<Bytes>, framing: ClientFraming, out: &mut Vec<u8>) -> Option<u64> {
    match frame.into_data() {
        Ok(data) => {
            if data.is_empty() {
                return Some(0);
            }
            if framing == ClientFraming::Chunked {
                write_chunk_head(out, data.len());
                out.extend_from_slice(&data);
                out.extend_from_slice(b"\r\n");
            } else {
                out.extend_from_slice(&data);
            }
            Some(data.len() as u64)
        }
        Err(frame) => {
            if let (Ok(trailers), ClientFraming::Chunked) = (frame.into_trailers(), framing) {
                crate::codec::write_last_chunk_fields(out, &trailers);
            }
            None
        }
    }
}
