//! Watching an HTTP/2 connection's frames (RFC 9113 §4.1) on their way through the socket:
//! activity for the idle timer, and floods of PING or SETTINGS frames, which a client can
//! send faster than anyone needs. A flood ends the connection with GOAWAY
//! `ENHANCE_YOUR_CALM`, written between the server's own frames.

use ballast_telemetry::LogLimiter;

/// Most PING or SETTINGS frames a client may send in one second.
pub(crate) const MAX_CONTROL_FRAMES_PER_SECOND: u32 = 200;

const PREFACE_LEN: u32 = 24;
const FRAME_HEADER: usize = 9;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const HEADERS: u8 = 0x1;
const ACK: u8 = 0x1;
/// GOAWAY error code ENHANCE_YOUR_CALM (RFC 9113 §7).
const ENHANCE_YOUR_CALM: u32 = 0xb;

static FLOOD_LOG: LogLimiter = LogLimiter::new(5);

/// Logs a flood (rate-limited: a flood of floods stays a few lines).
pub(crate) fn log_flood() {
    if let Some(suppressed) = FLOOD_LOG.allow() {
        tracing::info!(limit = MAX_CONTROL_FRAMES_PER_SECOND, suppressed, "HTTP/2 client flooded PING or SETTINGS frames: GOAWAY ENHANCE_YOUR_CALM, connection closed");
    }
}

/// Frame boundaries in one direction.
#[derive(Debug, Default)]
struct Framer {
    header: [u8; FRAME_HEADER],
    have: usize,
    payload_left: u32,
}

/// What the client sent, and where the server's writes are.
#[derive(Debug)]
pub(crate) struct FrameGuard {
    preface_left: u32,
    incoming: Framer,
    outgoing: Framer,
    window_start_ms: u64,
    control_frames: u32,
    last_stream: u32,
    flooded: bool,
}

impl Default for FrameGuard {
    fn default() -> Self {
        Self {
            preface_left: PREFACE_LEN,
            incoming: Framer::default(),
            outgoing: Framer::default(),
            window_start_ms: 0,
            control_frames: 0,
            last_stream: 0,
            flooded: false,
        }
    }
}

impl Framer {
    /// Feeds bytes; calls `frame(type, flags, stream)` for each complete frame header.
    fn feed(&mut self, mut bytes: &[u8], mut frame: impl FnMut(u8, u8, u32)) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = (self.payload_left as usize).min(bytes.len());
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
                frame(
                    h[3],
                    h[4],
                    u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
                );
            }
        }
    }

    fn at_boundary(&self) -> bool {
        self.have == 0 && self.payload_left == 0
    }
}

impl FrameGuard {
    /// Bytes read from the client at `now_ms`; returns whether the client is flooding.
    pub(crate) fn read(&mut self, mut bytes: &[u8], now_ms: u64) -> bool {
        if self.preface_left > 0 {
            let skip = (self.preface_left as usize).min(bytes.len());
            self.preface_left -= skip as u32;
            bytes = &bytes[skip..];
        }
        let (mut control, mut last) = (0u32, self.last_stream);
        self.incoming.feed(bytes, |kind, flags, stream| match kind {
            PING | SETTINGS if flags & ACK == 0 => control += 1,
            HEADERS => last = last.max(stream),
            _ => {}
        });
        self.last_stream = last;
        if control > 0 {
            if now_ms.saturating_sub(self.window_start_ms) >= 1000 {
                self.window_start_ms = now_ms;
                self.control_frames = 0;
            }
            self.control_frames = self.control_frames.saturating_add(control);
            if self.control_frames > MAX_CONTROL_FRAMES_PER_SECOND {
                self.flooded = true;
            }
        }
        self.flooded
    }

    /// Bytes the server wrote.
    pub(crate) fn wrote(&mut self, bytes: &[u8]) {
        self.outgoing.feed(bytes, |_, _, _| {});
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
        let mut guard = FrameGuard::default();
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(SETTINGS, 0, 0, &[]));
        bytes.extend(frame(HEADERS, 0x4, 7, &[0; 10]));
        assert!(!guard.read(&bytes, 0));
        for _ in 0..1000 {
            assert!(!guard.read(&frame(SETTINGS, ACK, 0, &[]), 10));
        }
        let pings: Vec<u8> = (0..MAX_CONTROL_FRAMES_PER_SECOND)
            .flat_map(|_| frame(PING, 0, 0, &[0; 8]))
            .collect();
        // Split at odd places: frames straddle reads.
        let (a, b) = pings.split_at(1001);
        assert!(!guard.read(a, 20));
        assert!(
            guard.read(b, 30),
            "one over the limit within a second is a flood"
        );
        let goaway = guard.goaway();
        assert_eq!(&goaway[9..13], &7u32.to_be_bytes(), "last stream seen");
    }

    #[test]
    fn a_steady_trickle_is_not_a_flood() {
        let mut guard = FrameGuard::default();
        guard.read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0);
        for second in 0..100u64 {
            for _ in 0..50 {
                assert!(!guard.read(&frame(PING, 0, 0, &[0; 8]), second * 1000));
            }
        }
    }

    #[test]
    fn injection_waits_for_a_frame_boundary() {
        let mut guard = FrameGuard::default();
        let data = frame(0x0, 0, 1, &[1; 100]);
        guard.wrote(&data[..50]);
        assert!(!guard.can_inject());
        guard.wrote(&data[50..]);
        assert!(guard.can_inject());
    }
}
