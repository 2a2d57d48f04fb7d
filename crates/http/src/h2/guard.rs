//! Watching an HTTP/2 connection's frames (RFC 9113 §4.1) on their way through the socket:
//! activity for the idle timer, and the abuses a client can commit below the streams the
//! server sees: floods of PING or SETTINGS frames, streams reset as fast as they are opened
//! (rapid reset, CVE-2023-44487), and header blocks that never end (CONTINUATION floods,
//! CVE-2024-27316). Any of them ends the connection with GOAWAY `ENHANCE_YOUR_CALM`, written
//! between the server's own frames. On the way out, the streams the server refuses (over
//! `http2_max_concurrent_streams`) are counted.

use ballast_telemetry::metrics::Limit;
use ballast_telemetry::LogLimiter;

/// Most PING or SETTINGS frames a client may send in one second.
pub(crate) const MAX_CONTROL_FRAMES_PER_SECOND: u32 = 200;

/// Most streams a client may reset (RST_STREAM) in one second. Browsers cancel a few streams
/// when a page changes and gRPC clients cancel calls; a rapid-reset attack resets thousands.
pub(crate) const MAX_RESETS_PER_SECOND: u32 = 200;

const PREFACE_LEN: u32 = 24;
const FRAME_HEADER: usize = 9;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const CONTINUATION: u8 = 0x9;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
/// GOAWAY error code ENHANCE_YOUR_CALM (RFC 9113 §7).
const ENHANCE_YOUR_CALM: u32 = 0xb;
/// RST_STREAM error code REFUSED_STREAM.
const REFUSED_STREAM: u32 = 0x7;

static FLOOD_LOG: LogLimiter = LogLimiter::new(5);

/// Which abuse ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flood {
    /// PING or SETTINGS frames over [`MAX_CONTROL_FRAMES_PER_SECOND`].
    Control,
    /// RST_STREAM frames over [`MAX_RESETS_PER_SECOND`].
    Resets,
    /// A header block (HEADERS and its CONTINUATION frames, frame headers included) larger
    /// than `max_header_bytes`.
    HeaderBlock,
}

impl Flood {
    /// The limit it counts under.
    pub(crate) fn limit(self) -> Limit {
        match self {
            Flood::Control => Limit::Http2ControlFlood,
            Flood::Resets => Limit::Http2RapidReset,
            Flood::HeaderBlock => Limit::Http2HeaderBlock,
        }
    }
}

/// Logs a flood (rate-limited: a flood of floods stays a few lines).
pub(crate) fn log_flood(flood: Flood) {
    if let Some(suppressed) = FLOOD_LOG.allow() {
        let what = match flood {
            Flood::Control => "flooded PING or SETTINGS frames",
            Flood::Resets => "reset streams faster than allowed (rapid reset)",
            Flood::HeaderBlock => "sent a header block larger than max_header_bytes",
        };
        tracing::info!(
            suppressed,
            "HTTP/2 client {what}: GOAWAY ENHANCE_YOUR_CALM, connection closed"
        );
    }
}

/// What a [`Framer`] reports.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// A frame header: type, flags, stream, payload length.
    Frame(u8, u8, u32, u32),
    /// The error code of an RST_STREAM frame.
    Reset(u32),
}

/// Frame boundaries in one direction.
#[derive(Debug, Default)]
struct Framer {
    header: [u8; FRAME_HEADER],
    have: usize,
    payload_left: u32,
    /// The start of an RST_STREAM payload (its error code) being read.
    code: [u8; 4],
    code_have: usize,
    in_reset: bool,
}

/// A window of one second and what was counted in it.
#[derive(Debug, Default)]
struct Rate {
    start_ms: u64,
    count: u32,
}

impl Rate {
    /// Adds `n` at `now_ms`; whether the count in the current second is over `max`.
    fn add(&mut self, n: u32, now_ms: u64, max: u32) -> bool {
        if n == 0 {
            return false;
        }
        if now_ms.saturating_sub(self.start_ms) >= 1000 {
            self.start_ms = now_ms;
            self.count = 0;
        }
        self.count = self.count.saturating_add(n);
        self.count > max
    }
}

/// What the client sent, and where the server's writes are.
#[derive(Debug)]
pub(crate) struct FrameGuard {
    preface_left: u32,
    incoming: Framer,
    outgoing: Framer,
    control: Rate,
    resets: Rate,
    /// Bytes of the header block in progress (`None`: no block open), and its CONTINUATION
    /// frames so far.
    block: Option<usize>,
    continuations: usize,
    max_block: usize,
    max_continuations: usize,
    last_stream: u32,
    flooded: Option<Flood>,
}

/// CONTINUATION frames (without END_HEADERS) a header block may have: as many as its largest
/// size needs in default-sized (16 KiB) frames, a quarter more for loose packing, at least 5.
/// The same bound as the h2 library's, checked first, so the defence is Ballast's to count.
fn max_continuations(max_block: usize) -> usize {
    let needed = (max_block / 16_384).max(1);
    (needed + needed / 4).max(5)
}

impl Framer {
    /// Feeds bytes; reports each complete frame header, and each RST_STREAM's error code.
    fn feed(&mut self, mut bytes: &[u8], mut event: impl FnMut(Event)) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = (self.payload_left as usize).min(bytes.len());
                if self.in_reset {
                    let take = (4 - self.code_have).min(skip);
                    self.code[self.code_have..self.code_have + take]
                        .copy_from_slice(&bytes[..take]);
                    self.code_have += take;
                    if self.code_have == 4 {
                        self.in_reset = false;
                        event(Event::Reset(u32::from_be_bytes(self.code)));
                    }
                }
                self.payload_left -= skip as u32;
                bytes = &bytes[skip..];
                continue;
            }
            let take = (FRAME_HEADER - self.have).min(bytes.len());
            self.header[self.have..self.have + take].copy_from_slice(&bytes[..take]);
            self.have += take;
            bytes = &bytes[take..];
            if self.have == FRAME_HEADER {
                let h = self.header;
                self.payload_left = u32::from_be_bytes([0, h[0], h[1], h[2]]);
                self.have = 0;
                self.in_reset = h[3] == RST_STREAM && self.payload_left >= 4;
                self.code_have = 0;
                event(Event::Frame(
                    h[3],
                    h[4],
                    u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
                    self.payload_left,
                ));
            }
        }
    }

    fn at_boundary(&self) -> bool {
        self.have == 0 && self.payload_left == 0
    }
}

impl FrameGuard {
    /// A guard for a connection whose header blocks may hold `max_block` bytes.
    pub(crate) fn new(max_block: usize) -> Self {
        Self {
            preface_left: PREFACE_LEN,
            incoming: Framer::default(),
            outgoing: Framer::default(),
            control: Rate::default(),
            resets: Rate::default(),
            block: None,
            continuations: 0,
            max_block,
            max_continuations: max_continuations(max_block),
            last_stream: 0,
            flooded: None,
        }
    }

    /// Bytes read from the client at `now_ms`; returns the abuse that ends the connection,
    /// once there is one.
    pub(crate) fn read(&mut self, mut bytes: &[u8], now_ms: u64) -> Option<Flood> {
        if self.preface_left > 0 {
            let skip = (self.preface_left as usize).min(bytes.len());
            self.preface_left -= skip as u32;
            bytes = &bytes[skip..];
        }
        let (mut control, mut resets, mut last) = (0u32, 0u32, self.last_stream);
        let (mut block, max_block, mut oversized) = (self.block, self.max_block, false);
        let (mut continuations, max_continuations) = (self.continuations, self.max_continuations);
        self.incoming.feed(bytes, |event| {
            let Event::Frame(kind, flags, stream, len) = event else {
                return;
            };
            match kind {
                PING | SETTINGS if flags & ACK == 0 => control += 1,
                RST_STREAM => resets += 1,
                _ => {}
            }
            if kind == HEADERS {
                last = last.max(stream);
            }
            // A header block: HEADERS or PUSH_PROMISE, then CONTINUATION frames until one
            // carries END_HEADERS. Frame headers count, so empty CONTINUATIONs add up too.
            let size = FRAME_HEADER + len as usize;
            block = match (kind, block) {
                (HEADERS | PUSH_PROMISE, _) => Some(size),
                (CONTINUATION, Some(bytes)) => Some(bytes + size),
                (_, open) => open,
            };
            let ends = flags & END_HEADERS != 0;
            if kind == CONTINUATION && !ends {
                continuations += 1;
            }
            if block.is_some_and(|bytes| bytes > max_block + FRAME_HEADER)
                || continuations > max_continuations
            {
                oversized = true;
            }
            if matches!(kind, HEADERS | PUSH_PROMISE | CONTINUATION) && ends {
                block = None;
                continuations = 0;
            }
        });
        self.last_stream = last;
        self.block = block;
        self.continuations = continuations;
        if self.flooded.is_none() {
            self.flooded = if oversized {
                Some(Flood::HeaderBlock)
            } else if self
                .control
                .add(control, now_ms, MAX_CONTROL_FRAMES_PER_SECOND)
            {
                Some(Flood::Control)
            } else if self.resets.add(resets, now_ms, MAX_RESETS_PER_SECOND) {
                Some(Flood::Resets)
            } else {
                None
            };
        }
        self.flooded
    }

    /// Bytes the server wrote; returns how many streams it refused in them.
    pub(crate) fn wrote(&mut self, bytes: &[u8]) -> u32 {
        let mut refused = 0;
        self.outgoing.feed(bytes, |event| {
            if let Event::Reset(REFUSED_STREAM) = event {
                refused += 1;
            }
        });
        refused
    }

    /// Whether a frame of Ballast's own may be written now (no server frame half-written).
    pub(crate) fn can_inject(&self) -> bool {
        self.outgoing.at_boundary()
    }

    /// The GOAWAY that ends a flooding connection.
    pub(crate) fn goaway(&self) -> [u8; 17] {
        let mut frame = [0u8; 17];
        frame[2] = 8;
        frame[3] = 0x7;
        frame[9..13].copy_from_slice(&self.last_stream.to_be_bytes());
        frame[13..17].copy_from_slice(&ENHANCE_YOUR_CALM.to_be_bytes());
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn a_ping_flood_is_caught_and_acks_are_not_counted() {
        let mut guard = FrameGuard::new(16384);
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(SETTINGS, 0, 0, &[]));
        bytes.extend(frame(HEADERS, 0x4, 7, &[0; 10]));
        assert!(guard.read(&bytes, 0).is_none());
        for _ in 0..1000 {
            assert!(guard.read(&frame(SETTINGS, ACK, 0, &[]), 10).is_none());
        }
        let pings: Vec<u8> = (0..MAX_CONTROL_FRAMES_PER_SECOND)
            .flat_map(|_| frame(PING, 0, 0, &[0; 8]))
            .collect();
        // Split at odd places: frames straddle reads.
        let (a, b) = pings.split_at(1001);
        assert!(guard.read(a, 20).is_none());
        assert_eq!(
            guard.read(b, 30),
            Some(Flood::Control),
            "one over the limit within a second is a flood"
        );
        let goaway = guard.goaway();
        assert_eq!(&goaway[9..13], &7u32.to_be_bytes(), "last stream seen");
    }

    #[test]
    fn a_steady_trickle_is_not_a_flood() {
        let mut guard = FrameGuard::new(16384);
        guard.read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0);
        for second in 0..100u64 {
            for _ in 0..50 {
                assert!(guard
                    .read(&frame(PING, 0, 0, &[0; 8]), second * 1000)
                    .is_none());
            }
        }
    }

    #[test]
    fn injection_waits_for_a_frame_boundary() {
        let mut guard = FrameGuard::new(16384);
        let data = frame(0x0, 0, 1, &[1; 100]);
        guard.wrote(&data[..50]);
        assert!(!guard.can_inject());
        guard.wrote(&data[50..]);
        assert!(guard.can_inject());
    }

    #[test]
    fn streams_reset_as_fast_as_they_open_end_the_connection() {
        let mut guard = FrameGuard::new(16384);
        guard.read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0);
        // Open and reset, open and reset: fine at a human pace...
        for second in 0..10u64 {
            for i in 0..50u32 {
                let stream = 1 + 2 * (second as u32 * 50 + i);
                let mut bytes = frame(HEADERS, END_HEADERS | 0x1, stream, &[0; 20]);
                bytes.extend(frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()));
                assert!(guard.read(&bytes, second * 1000).is_none());
            }
        }
        // ... not at an attacker's.
        let burst: Vec<u8> = (0..=MAX_RESETS_PER_SECOND)
            .flat_map(|i| {
                let stream = 10_001 + 2 * i;
                let mut bytes = frame(HEADERS, END_HEADERS, stream, &[0; 20]);
                bytes.extend(frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()));
                bytes
            })
            .collect();
        assert_eq!(guard.read(&burst, 20_000), Some(Flood::Resets));
        assert_eq!(
            &guard.goaway()[9..13],
            &(10_001 + 2 * MAX_RESETS_PER_SECOND).to_be_bytes()
        );
    }

    #[test]
    fn a_header_block_is_bounded_across_its_continuation_frames() {
        let mut guard = FrameGuard::new(1000);
        guard.read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0);
        // Blocks within the bound, in one frame or several, pass; each ends the count.
        for _ in 0..100 {
            let mut bytes = frame(HEADERS, 0, 1, &[0; 300]);
            bytes.extend(frame(CONTINUATION, 0, 1, &[0; 300]));
            bytes.extend(frame(CONTINUATION, END_HEADERS, 1, &[0; 300]));
            assert!(guard.read(&bytes, 0).is_none());
        }
        // A block that never ends: empty CONTINUATION frames still add their headers.
        assert!(guard.read(&frame(HEADERS, 0, 3, &[0; 10]), 0).is_none());
        let empties: Vec<u8> = (0..200)
            .flat_map(|_| frame(CONTINUATION, 0, 3, &[]))
            .collect();
        assert_eq!(guard.read(&empties, 0), Some(Flood::HeaderBlock));
    }

    #[test]
    fn refused_streams_are_counted_on_the_way_out() {
        let mut guard = FrameGuard::new(16384);
        let mut out = frame(RST_STREAM, 0, 5, &REFUSED_STREAM.to_be_bytes());
        out.extend(frame(RST_STREAM, 0, 7, &8u32.to_be_bytes()));
        out.extend(frame(RST_STREAM, 0, 9, &REFUSED_STREAM.to_be_bytes()));
        // Split inside the second code.
        let (a, b) = out.split_at(13 + 9 + 2);
        assert_eq!(guard.wrote(a) + guard.wrote(b), 2);
    }
}
