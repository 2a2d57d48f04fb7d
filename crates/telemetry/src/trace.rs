//! Request ids and W3C trace context (`traceparent`), so one request can be followed from
//! the access log into the target's logs.
//!
//! Pure functions over bytes: the http crate decides where headers go.

/// A parsed or freshly started `traceparent` (W3C Trace Context, version 00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace's id (never all zeros).
    pub trace_id: u128,
    /// The caller's span id (never all zeros).
    pub parent_id: u64,
    /// Trace flags; bit 0 is "sampled".
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` header value. Unknown future versions are read by their
    /// version-00 prefix, as the spec asks; anything malformed is `None`.
    pub fn parse(value: &[u8]) -> Option<Self> {
        if value.len() < 55 {
            return None;
        }
        let version = hex_u128(&value[0..2])? as u8;
        if version == 0xff || (version == 0 && value.len() != 55) {
            return None;
        }
        if version != 0 && value.len() > 55 && value[55] != b'-' {
            return None;
        }
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let trace_id = hex_u128(&value[3..35])?;
        let parent_id = u64::try_from(hex_u128(&value[36..52])?).ok()?;
        let flags = hex_u128(&value[53..55])? as u8;
        (trace_id != 0 && parent_id != 0).then_some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A new trace, started here, marked sampled so the first traced hop records it.
    pub fn start(random_trace: u128, random_span: u64) -> Self {
        Self {
            trace_id: random_trace.max(1),
            parent_id: random_span.max(1),
            flags: 0x01,
        }
    }

    /// The header value, `00-<trace id>-<parent id>-<flags>`.
    pub fn to_header(&self) -> [u8; 55] {
        let mut out = [b'-'; 55];
        out[0] = b'0';
        out[1] = b'0';
        write_hex(&mut out[3..35], self.trace_id);
        write_hex(&mut out[36..52], u128::from(self.parent_id));
        write_hex(&mut out[53..55], u128::from(self.flags));
        out
    }

    /// The trace id as 32 lowercase hex digits (what access logs show).
    pub fn trace_id_hex(&self) -> String {
        let mut out = [0u8; 32];
        write_hex(&mut out, self.trace_id);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A new request id: 32 lowercase hex digits of randomness.
pub fn request_id(random: u128) -> [u8; 32] {
    let mut out = [0u8; 32];
    write_hex(&mut out, random);
    out
}

/// Whether a client-supplied request id is kept: short, visible ASCII, no spaces (anything
/// else could forge log fields downstream).
pub fn acceptable_request_id(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= 128 && value.iter().all(|b| b.is_ascii_graphic())
}

fn hex_u128(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |acc, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            // Upper case is invalid in traceparent.
            _ => return None,
        };
        Some(acc << 4 | u128::from(v))
    })
}

/// Writes the low `out.len()` hex digits of `value` (lowercase), two digits per byte: this
/// runs for every request (new request ids and traces).
fn write_hex(out: &mut [u8], value: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = value.to_be_bytes();
    let digits = out.len();
    for (i, slot) in out.iter_mut().enumerate() {
        // Digit i of the last `digits` hex digits of the 32 a u128 has.
        let nibble = 32 - digits + i;
        let byte = bytes[nibble / 2];
        *slot = DIGITS[usize::from(if nibble.is_multiple_of(2) {
            byte >> 4
        } else {
            byte & 0xf
        })];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_formats_the_spec_example() {
        let t = TraceParent::parse(SAMPLE).unwrap();
        assert_eq!(t.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(t.parent_id, 0x00f067aa0ba902b7);
        assert_eq!(t.flags, 1);
        assert_eq!(&t.to_header()[..], SAMPLE);
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn refuses_malformed_values() {
        for bad in [
            &b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"[..],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"garbage",
        ] {
            assert_eq!(
                TraceParent::parse(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn future_versions_read_by_prefix() {
        let v = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future";
        assert!(TraceParent::parse(v).is_some());
    }

    #[test]
    fn started_traces_are_valid() {
        let t = TraceParent::start(0, 0);
        assert_eq!(TraceParent::parse(&t.to_header()), Some(t));
        assert_eq!(request_id(255)[30..], *b"ff");
        assert!(acceptable_request_id(b"abc-123"));
        assert!(!acceptable_request_id(b"a b"));
        assert!(!acceptable_request_id(b""));
    }
}
