//! A watch: one streamed answer of newline-delimited JSON objects, read as batches of
//! events.

use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::conn::ConnTask;
use super::wire::{StreamLine, WatchResponse};
use super::{EtcdError, Event};

/// The longest line (one JSON object) a stream may send: a bound, so a broken server
/// cannot make the buffer grow without limit.
pub(super) const MAX_LINE: usize = 16 << 20;

/// Splits bytes arriving in arbitrary chunks into lines ending in `\n`.
#[derive(Default)]
pub(super) struct Lines {
    buffer: Vec<u8>,
    /// How far `buffer` is known to hold no newline, so each byte is scanned once.
    scanned: usize,
}

impl Lines {
    pub(super) fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// The next complete line that is not blank, without its newline; `Ok(None)` when
    /// none is complete yet; an error when an unfinished line is longer than `MAX_LINE`.
    pub(super) fn next_line(&mut self) -> Result<Option<Vec<u8>>, EtcdError> {
        loop {
            let rest = self.buffer.get(self.scanned..).unwrap_or_default();
            let Some(at) = rest.iter().position(|&b| b == b'\n') else {
                self.scanned = self.buffer.len();
                if self.buffer.len() > MAX_LINE {
                    return Err(EtcdError::Malformed(format!(
                        "a watch line longer than {MAX_LINE} bytes"
                    )));
                }
                return Ok(None);
            };
            let end = self.scanned + at;
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            self.scanned = 0;
            line.pop();
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(line));
            }
        }
    }

    /// What is left once the stream has ended: a last line without its newline.
    pub(super) fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.buffer);
        self.scanned = 0;
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }
}

/// What one line of a watch stream says.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Message {
    /// The watch is in place.
    Created,
    /// Events (never empty).
    Events(Vec<Event>),
    /// Nothing for the caller: a progress notification.
    Progress,
}

/// Reads one line of a watch stream; a cancelled watch or an error object is an error.
pub(super) fn parse_line(line: &[u8]) -> Result<Message, EtcdError> {
    let parsed: StreamLine<WatchResponse> = serde_json::from_slice(line)
        .map_err(|e| EtcdError::Malformed(format!("watch line: {e}")))?;
    if let Some(error) = parsed.error {
        // gRPC Unavailable (the gateway lost its member: "transport is closing" as etcd
        // shuts down) or Cancelled ("the client connection is closing", the same seen a
        // moment later): the stream breaking, not etcd refusing the watch.
        if matches!(error.grpc_code(), 1 | 14) {
            return Err(EtcdError::Broken(error.message));
        }
        return Err(EtcdError::Status {
            status: u16::try_from(error.http_code).unwrap_or(0),
            code: error.grpc_code(),
            message: error.message,
        });
    }
    let Some(result) = parsed.result else {
        return Err(EtcdError::Malformed(
            "watch line with neither result nor error".into(),
        ));
    };
    if result.canceled {
        if result.compact_revision > 0 {
            return Err(EtcdError::Compacted(result.compact_revision));
        }
        return Err(EtcdError::Canceled(result.cancel_reason));
    }
    if !result.events.is_empty() {
        let events = result.events.into_iter().map(|e| e.into_event()).collect();
        return Ok(Message::Events(events));
    }
    Ok(if result.created {
        Message::Created
    } else {
        Message::Progress
    })
}

/// An open watch. Dropping it closes its connection, which cancels it in etcd.
pub struct Watch {
    body: Incoming,
    lines: Lines,
    ended: bool,
    _conn: ConnTask,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").field("ended", &self.ended).finish()
    }
}

impl Watch {
    pub(super) fn new(body: Incoming, conn: ConnTask) -> Watch {
        Watch {
            body,
            lines: Lines::default(),
            ended: false,
            _conn: conn,
        }
    }

    /// Waits for the watch to be in place (its first message), so that no event after
    /// `watch` returns can be missed by a caller that then writes.
    pub(super) async fn created(&mut self) -> Result<(), EtcdError> {
        loop {
            match self.message().await? {
                Some(Message::Created) => return Ok(()),
                Some(_) => {}
                None => return Err(EtcdError::Broken("the watch ended at once".into())),
            }
        }
    }

    /// The next batch of events (waits for one).
    ///
    /// An error when the stream broke ([`EtcdError::Broken`]), when etcd cancelled the
    /// watch ([`EtcdError::Compacted`] when its start revision was compacted away,
    /// [`EtcdError::Canceled`] otherwise) or sent an error; `Ok(None)` when the stream
    /// ended cleanly. Either way the watch is over: watch again from the revision after
    /// the last event seen.
    ///
    /// It waits as long as nothing changes; etcd sends a progress notification every ten
    /// minutes (by default) on a quiet watch, so a caller may bound the wait well above
    /// that to notice a connection that died silently.
    pub async fn next(&mut self) -> Result<Option<Vec<Event>>, EtcdError> {
        loop {
            match self.message().await? {
                Some(Message::Events(events)) => return Ok(Some(events)),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    async fn message(&mut self) -> Result<Option<Message>, EtcdError> {
        loop {
            if let Some(line) = self.lines.next_line()? {
                return parse_line(&line).map(Some);
            }
            if self.ended {
                return match self.lines.finish() {
                    Some(line) => parse_line(&line).map(Some),
                    None => Ok(None),
                };
            }
            match self.body.frame().await {
                None => self.ended = true,
                Some(Ok(frame)) => {
                    // Trailers (grpc-gateway sends some) carry nothing for us.
                    if let Ok(data) = frame.into_data() {
                        self.lines.push(&data);
                    }
                }
                Some(Err(e)) => return Err(EtcdError::Broken(format!("watch stream: {e}"))),
            }
        }
    }
}
