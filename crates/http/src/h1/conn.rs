//! What every part of an HTTP/1 client connection shares: the connection's state, what a
//! request keeps of its head, and how a request ends for its connection.

use std::sync::Arc;

use ballast_config::HttpListenerLimits;
use tokio::time::Instant;

use crate::buf::Buf;
use crate::codec::{BodyKind, MethodKind};
use crate::conn::ConnCtx;
use crate::signal::Signal;

/// The state of one HTTP/1 client connection.
pub(crate) struct H1Conn<S> {
    pub(super) io: S,
    /// Bytes read from the client and not consumed yet (a head, body bytes, the next
    /// pipelined request).
    pub(super) rbuf: Buf,
    pub(super) ctx: ConnCtx,
    pub(super) limits: Arc<HttpListenerLimits>,
    /// Raised when the listener drains: the current request is the last.
    pub(super) draining: Arc<Signal>,
    /// Requests served on the connection (saturating; a `u32`, so that it packs with the
    /// flags below: this state is what every idle connection costs).
    pub(super) served: u32,
    /// Whether the first bytes may still turn out to be the HTTP/2 preface (h2c).
    pub(super) sniff_h2: bool,
    /// When the first request's head is due: the header timeout from accept.
    pub(super) first_head_due: Instant,
    /// The client may still be sending (a body or head left unread): on close, what it
    /// sends is read and dropped for a moment, so the answer is not lost to a TCP reset.
    pub(super) linger: bool,
}

impl<S> H1Conn<S> {
    /// A connection just accepted; `sniff_h2`: on a cleartext listener, the first bytes may
    /// be the HTTP/2 preface.
    pub(crate) fn new(
        io: S,
        ctx: ConnCtx,
        limits: Arc<HttpListenerLimits>,
        draining: Arc<Signal>,
        sniff_h2: bool,
    ) -> Self {
        let first_head_due = Instant::now() + limits.request_header_timeout;
        Self {
            io,
            rbuf: Buf::default(),
            ctx,
            limits,
            draining,
            served: 0,
            sniff_h2,
            first_head_due,
            linger: false,
        }
    }
}

/// What the rest of the request needs from its head once the head's bytes are gone.
#[derive(Debug, Clone, Copy)]
pub(super) struct Basics {
    pub(super) minor: u8,
    pub(super) method: MethodKind,
    pub(super) body: BodyKind,
    pub(super) keep_alive: bool,
    pub(super) expect_continue: bool,
    /// The request asks for a protocol upgrade (WebSocket).
    pub(super) upgrade: bool,
    /// Its body carries transfer codings before `chunked` (`gzip, chunked`), which an
    /// HTTP/2 target cannot be told of.
    pub(super) codings: bool,
    /// The target connection is closed after this request (ambiguous framing): never
    /// pooled.
    pub(super) close_target: bool,
}

/// How the request ended for its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Serve the next request.
    KeepAlive,
    /// Nothing arrived after all: wait for the request again.
    Idle,
    /// Close the connection.
    Close,
    /// The connection opened with the HTTP/2 preface: hand it to HTTP/2.
    Http2,
}
