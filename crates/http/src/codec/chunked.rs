//! The chunked transfer coding (RFC 9112 §7.1): a strict decoder, and the canonical
//! encoding Ballast writes. Bodies are always re-encoded, never passed through as received,
//! so a target or client only ever sees plain `size CRLF data CRLF` framing, however odd
//! (but valid) the sender's was: chunk extensions are dropped, trailers re-written.

use super::fields::classify;
use super::fields::FieldKind;

/// Longest chunk-size line accepted (size, extensions and line ending).
const MAX_SIZE_LINE: usize = 4096;

/// Why a chunked body is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChunkError {
    /// A chunk size that is not hexadecimal, or too large.
    #[error("invalid chunk size")]
    Size,
    /// A line ending other than CRLF, or bytes where CRLF belongs.
    #[error("invalid chunk framing")]
    Framing,
    /// Chunk extensions or trailers beyond the limits.
    #[error("chunk extensions or trailers too large")]
    TooLarge,
    /// Trailer fields that do not parse.
    #[error("invalid trailer fields")]
    Trailers,
}

/// What one step of decoding found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Body data: `input[start..end]`.
    Data { start: usize, end: usize },
    /// The last chunk and trailer section were read; the body is complete.
    End,
}

/// A chunked-body decoder; feed it bytes, it says how many it consumed and what they were.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// The raw trailer section, lines with CRLF (bounded).
    trailers: Vec<u8>,
    max_trailers: usize,
    line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size { value: u64, digits: u8 },
    SizeSpace { value: u64 },
    Extension { value: u64 },
    SizeLf { value: u64 },
    Data { left: u64 },
    DataCr,
    DataLf,
    TrailerStart,
    Trailer { cr: bool },
    EndLf,
    Done,
}

// === impl ChunkedDecoder ===

impl ChunkedDecoder {
    /// A decoder for one body; `max_trailers` bounds the trailer section in bytes.
    pub(crate) fn new(max_trailers: usize) -> Self {
        Self {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            trailers: Vec::new(),
            max_trailers,
            line: 0,
        }
    }

    /// The trailer section read (raw lines, CRLF-terminated; empty when none).
    pub(crate) fn trailers(&self) -> &[u8] {
        &self.trailers
    }

    /// Decodes from the start of `input`: returns the bytes consumed and, when it found any,
    /// a piece of data or the end. `(n, None)` with `n == input.len()` means "more input".
    pub(crate) fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Piece>), ChunkError> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data { left } = self.state {
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - i);
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { left }
                };
                return Ok((
                    i + take,
                    Some(Piece::Data {
                        start: i,
                        end: i + take,
                    }),
                ));
            }
            let b = input[i];
            i += 1;
            self.step(b)?;
            if self.state == State::Done {
                self.check_trailers()?;
                return Ok((i, Some(Piece::End)));
            }
        }
        Ok((i, None))
    }

    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        self.state = match self.state {
            State::Size { value, digits } => {
                self.count_line()?;
                match hex(b) {
                    Some(d) => {
                        if value >> 60 != 0 {
                            return Err(ChunkError::Size);
                        }
                        State::Size {
                            value: value << 4 | u64::from(d),
                            digits: digits.saturating_add(1),
                        }
                    }
                    None if digits == 0 => return Err(ChunkError::Size),
                    None => self.after_size(b, value)?,
                }
            }
            State::SizeSpace { value } => {
                self.count_line()?;
                match b {
                    b' ' | b'\t' => State::SizeSpace { value },
                    b';' => State::Extension { value },
                    b'\r' => State::SizeLf { value },
                    _ => return Err(ChunkError::Size),
                }
            }
            State::Extension { value } => {
                self.count_line()?;
                match b {
                    b'\r' => State::SizeLf { value },
                    b'\t' | b' '..=b'~' | 0x80..=0xff => State::Extension { value },
                    _ => return Err(ChunkError::Framing),
                }
            }
            State::SizeLf { value } => {
                if b != b'\n' {
                    return Err(ChunkError::Framing);
                }
                self.line = 0;
                if value == 0 {
                    State::TrailerStart
                } else {
                    State::Data { left: value }
                }
            }
            State::Data { .. } => unreachable_data(),
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size {
                value: 0,
                digits: 0,
            },
            State::DataCr | State::DataLf => return Err(ChunkError::Framing),
            State::TrailerStart => match b {
                b'\r' => State::EndLf,
                b'\n' => return Err(ChunkError::Framing),
                _ => {
                    self.push_trailer(b)?;
                    State::Trailer { cr: false }
                }
            },
            State::Trailer { cr } => {
                self.push_trailer(b)?;
                match (cr, b) {
                    (true, b'\n') => State::TrailerStart,
                    (true, _) => return Err(ChunkError::Framing),
                    (false, b'\r') => State::Trailer { cr: true },
                    (false, b'\n') => return Err(ChunkError::Framing),
                    (false, _) => State::Trailer { cr: false },
                }
            }
            State::EndLf if b == b'\n' => State::Done,
            State::EndLf => return Err(ChunkError::Framing),
            State::Done => State::Done,
        };
        Ok(())
    }

    fn after_size(&self, b: u8, value: u64) -> Result<State, ChunkError> {
        Ok(match b {
            b'\r' => State::SizeLf { value },
            b';' => State::Extension { value },
            b' ' | b'\t' => State::SizeSpace { value },
            _ => return Err(ChunkError::Size),
        })
    }

    fn count_line(&mut self) -> Result<(), ChunkError> {
        self.line += 1;
        if self.line > MAX_SIZE_LINE {
            return Err(ChunkError::TooLarge);
        }
        Ok(())
    }

    fn push_trailer(&mut self, b: u8) -> Result<(), ChunkError> {
        if self.trailers.len() >= self.max_trailers {
            return Err(ChunkError::TooLarge);
        }
        self.trailers.push(b);
        Ok(())
    }

    fn check_trailers(&self) -> Result<(), ChunkError> {
        if self.trailers.is_empty() {
            return Ok(());
        }
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut section = Vec::with_capacity(self.trailers.len() + 2);
        section.extend_from_slice(&self.trailers);
        section.extend_from_slice(b"\r\n");
        match httparse::parse_headers(&section, &mut slots) {
            Ok(httparse::Status::Complete(_)) => Ok(()),
            _ => Err(ChunkError::Trailers),
        }
    }
}

fn unreachable_data() -> State {
    // `decode` consumes data before stepping byte by byte; keep going safely if not.
    State::DataCr
}

/// The value of a hexadecimal digit.
pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Writes the size line of a chunk of `len` bytes (`len > 0`) into `out`.
pub(crate) fn write_chunk_head(out: &mut Vec<u8>, len: usize) {
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// Whether a field may travel as a trailer: framing, routing and hop-by-hop fields never do
/// (RFC 9110 §6.5.1).
pub(crate) fn trailer_allowed(name: &[u8]) -> bool {
    matches!(classify(name), FieldKind::Plain | FieldKind::SetCookie)
}

/// Writes the last chunk, with `trailers` (an HTTP/2 peer's) that may travel as trailers.
pub(crate) fn write_last_chunk_fields(out: &mut Vec<u8>, trailers: &http::HeaderMap) {
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        if trailer_allowed(name.as_str().as_bytes()) {
            super::write::field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the last chunk with the fields of `trailers` (a raw section from a decoder) that
/// may travel as trailers: framing, routing and hop-by-hop fields never do.
pub(crate) fn write_last_chunk(out: &mut Vec<u8>, trailers: &[u8]) {
    out.extend_from_slice(b"0\r\n");
    if !trailers.is_empty() {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut section = Vec::with_capacity(trailers.len() + 2);
        section.extend_from_slice(trailers);
        section.extend_from_slice(b"\r\n");
        if let Ok(httparse::Status::Complete((_, fields))) =
            httparse::parse_headers(&section, &mut slots)
        {
            for f in fields {
                if trailer_allowed(f.name.as_bytes()) {
                    out.extend_from_slice(f.name.as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(f.value);
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// A trailer section as read (`name: value` CRLF lines) as a field map, for an HTTP/2 peer;
/// `None` when it holds no field.
pub(crate) fn trailer_fields(section: &[u8]) -> Option<http::HeaderMap> {
    if section.is_empty() {
        return None;
    }
    let mut lines = section.to_vec();
    lines.extend_from_slice(b"\r\n");
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let Ok(httparse::Status::Complete((_, parsed))) = httparse::parse_headers(&lines, &mut slots)
    else {
        return None;
    };
    let mut map = http::HeaderMap::new();
    for f in parsed.iter().filter(|f| trailer_allowed(f.name.as_bytes())) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(f.name.as_bytes()),
            http::HeaderValue::from_bytes(f.value),
        ) {
            map.append(name, value);
        }
    }
    (!map.is_empty()).then_some(map)
}

#[cfg(test)]
mod tests;
