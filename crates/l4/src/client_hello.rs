//! Peeks the server name (SNI) and ALPN list of a TLS ClientHello without terminating TLS.
//!
//! TLS passthrough picks a target group by the name the client asks for, but must forward
//! the client's bytes untouched to a target that terminates TLS itself. So the listener reads
//! the first bytes, asks `peek`, routes, and then replays the same bytes to the target.
//! Pure and sans-io (CONVENTIONS 7.4.7); the listener owns the reads and the timeout.
//!
//! Formats: TLS records (RFC 8446 §5.1), the ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2),
//! server_name (RFC 6066 §3) and application_layer_protocol_negotiation (RFC 7301 §3.1).

use std::borrow::Cow;

#[cfg(test)]
mod tests;

/// Bound on bytes read before giving up: a whole ClientHello at the largest size `peek`
/// accepts (16 KiB of handshake body) in up to three records fits, as does a small one cut
/// into many records. `peek` returns `Incomplete` only while `buf` is shorter than this, so a
/// buffer of this size always suffices.
pub const MAX_HELLO_BYTES: usize = 16 * 1024 + 5 * 4;

/// What the client asked for in its ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHelloInfo {
    /// The host name of the server_name extension: lower-cased ASCII, a trailing dot removed.
    /// `None` when the client sent no host name (for instance when it connects by IP address).
    pub server_name: Option<String>,
    /// The ALPN protocol names, in the client's order of preference; empty without the
    /// extension.
    pub alpn: Vec<Vec<u8>>,
}

/// What `peek` found in the bytes read so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peek {
    /// The whole ClientHello was there.
    Complete(ClientHelloInfo),
    /// The bytes are a valid start of a ClientHello: read more and call again.
    Incomplete,
}

/// Why the start of a connection gives no ClientHello to route on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HelloError {
    /// The first record is not a TLS handshake record: the client speaks something else.
    #[error("not a TLS connection")]
    NotTls,
    /// A TLS handshake, but its first message is not a ClientHello.
    #[error("the first TLS handshake message is not a ClientHello")]
    NotClientHello,
    /// The ClientHello breaks its format; the reason names the part.
    ///
    /// A server name that is not a valid DNS name (letters, digits, `-`, labels of 1 to 63
    /// bytes, 253 bytes in all) is reported here too, rather than read as no name: routing
    /// such a hello to the default target group would hide a client's mistake or an attempt
    /// to slip past a name-based rule.
    #[error("malformed TLS ClientHello: {0}")]
    Malformed(&'static str),
    /// The ClientHello declares more than 16 KiB, or has not ended within
    /// [`MAX_HELLO_BYTES`].
    #[error("TLS ClientHello too large")]
    TooLarge,
}

/// Content type of a handshake record.
const HANDSHAKE_RECORD: u8 = 22;
/// Handshake message type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// Content type, version, length.
const RECORD_HEADER_BYTES: usize = 5;
/// Message type and 24-bit length.
const HANDSHAKE_HEADER_BYTES: usize = 4;
/// The largest record body a peer may send in plaintext (RFC 8446 §5.1).
const MAX_RECORD_BYTES: usize = 1 << 14;
/// The largest ClientHello body accepted; real ones are a few hundred bytes to a few KiB.
const MAX_HANDSHAKE_BYTES: usize = 16 * 1024;
const EXTENSION_SERVER_NAME: u16 = 0;
const EXTENSION_ALPN: u16 = 16;
const NAME_TYPE_HOST_NAME: u8 = 0;
/// RFC 1035 bounds on a name (without its trailing dot) and on one label.
const MAX_NAME_BYTES: usize = 253;
const MAX_LABEL_BYTES: usize = 63;

/// Peeks at the ClientHello at the start of a connection; `buf` holds its first bytes.
///
/// The hello may be cut into several handshake records (their bodies are joined) and `buf`
/// may end anywhere: `Incomplete` until the whole hello is there, then `Complete`, whatever
/// follows it. An error as soon as the bytes cannot become a ClientHello: `NotTls` when the
/// first record is not a handshake record, `NotClientHello` when its first message is of
/// another type, `Malformed` for a broken record sequence (another record type before the
/// hello ends, an empty or oversized record) or a broken hello, `TooLarge` per its bounds.
pub fn peek(buf: &[u8]) -> Result<Peek, HelloError> {
    match reassemble(buf)? {
        Some(body) => parse_hello(&body).map(Peek::Complete),
        None if buf.len() >= MAX_HELLO_BYTES => Err(HelloError::TooLarge),
        None => Ok(Peek::Incomplete),
    }
}

/// Joins the handshake records' bodies until the first handshake message is whole, and
/// returns that message's body; `None` while it is not. Borrows when the message sits in the
/// first record, as it nearly always does; copies only when it spans records.
fn reassemble(buf: &[u8]) -> Result<Option<Cow<'_, [u8]>>, HelloError> {
    let mut records = buf;
    let mut handshake: Cow<'_, [u8]> = Cow::Borrowed(&[]);
    loop {
        let first = records.len() == buf.len();
        check_record_header(records, first)?;
        let Some(header) = records.get(..RECORD_HEADER_BYTES) else {
            return Ok(None);
        };
        let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if length == 0 {
            return Err(HelloError::Malformed("empty handshake record"));
        }
        if length > MAX_RECORD_BYTES {
            return Err(HelloError::Malformed("record longer than 2^14 bytes"));
        }
        let end = (RECORD_HEADER_BYTES + length).min(records.len());
        let fragment = &records[RECORD_HEADER_BYTES..end];
        if first {
            handshake = Cow::Borrowed(fragment);
        } else {
            handshake.to_mut().extend_from_slice(fragment);
        }
        if let Some(body_length) = check_handshake_header(&handshake)? {
            let body = HANDSHAKE_HEADER_BYTES..HANDSHAKE_HEADER_BYTES + body_length;
            if handshake.len() >= body.end {
                return Ok(Some(match handshake {
                    Cow::Borrowed(bytes) => Cow::Borrowed(&bytes[body]),
                    Cow::Owned(mut bytes) => {
                        bytes.truncate(body.end);
                        bytes.drain(..body.start);
                        Cow::Owned(bytes)
                    }
                }));
            }
        }
        if end < RECORD_HEADER_BYTES + length {
            return Ok(None);
        }
        records = &records[end..];
    }
}

/// Checks the bytes of a record header that have arrived. The first record decides whether
/// this is TLS at all; a later one that is not a handshake record breaks the hello.
fn check_record_header(header: &[u8], first: bool) -> Result<(), HelloError> {
    let refuse = |reason| match first {
        true => HelloError::NotTls,
        false => HelloError::Malformed(reason),
    };
    if header.first().is_some_and(|&kind| kind != HANDSHAKE_RECORD) {
        return Err(refuse("non-handshake record inside the ClientHello"));
    }
    // Every TLS version, SSL 3.0 to 1.3, has major version 3 in the record header.
    if header.get(1).is_some_and(|&major| major != 3) {
        return Err(refuse("a record of a version other than 3.x"));
    }
    Ok(())
}

/// Checks the handshake header as far as it has arrived; returns the body length once known.
fn check_handshake_header(handshake: &[u8]) -> Result<Option<usize>, HelloError> {
    if handshake.first().is_some_and(|&kind| kind != CLIENT_HELLO) {
        return Err(HelloError::NotClientHello);
    }
    let Some(&[_, high, middle, low]) = handshake.get(..HANDSHAKE_HEADER_BYTES) else {
        return Ok(None);
    };
    let length = usize::from(high) << 16 | usize::from(middle) << 8 | usize::from(low);
    match length > MAX_HANDSHAKE_BYTES {
        true => Err(HelloError::TooLarge),
        false => Ok(Some(length)),
    }
}

/// Reads the ClientHello body: version, random, session id, cipher suites, compression
/// methods, then the extensions (absent in some TLS 1.2 hellos), which must fill the rest.
fn parse_hello(body: &[u8]) -> Result<ClientHelloInfo, HelloError> {
    let mut hello = Reader(body);
    hello.take(2 + 32, "ClientHello shorter than its version and random")?;
    let session_id = hello.vec8("session id overruns the ClientHello")?;
    if session_id.len() > 32 {
        return Err(HelloError::Malformed("session id longer than 32 bytes"));
    }
    let suites = hello.vec16("cipher suites overrun the ClientHello")?;
    if suites.is_empty() || suites.len() % 2 != 0 {
        return Err(HelloError::Malformed(
            "cipher suites empty or of odd length",
        ));
    }
    let compression = hello.vec8("compression methods overrun the ClientHello")?;
    if compression.is_empty() {
        return Err(HelloError::Malformed("no compression method"));
    }
    let mut info = ClientHelloInfo::default();
    if hello.0.is_empty() {
        return Ok(info);
    }
    let mut extensions = Reader(hello.vec16("extensions overrun the ClientHello")?);
    if !hello.0.is_empty() {
        return Err(HelloError::Malformed("bytes after the extensions"));
    }
    // RFC 8446 §4.2: no extension type twice. Checked for the two read here, so that no two
    // readers of the same hello can see different names or protocols.
    let (mut seen_name, mut seen_alpn) = (false, false);
    while !extensions.0.is_empty() {
        let kind = extensions.u16("extension header cut short")?;
        let data = extensions.vec16("extension overruns the extension list")?;
        match kind {
            EXTENSION_SERVER_NAME if seen_name => {
                return Err(HelloError::Malformed("two server_name extensions"))
            }
            EXTENSION_SERVER_NAME => (seen_name, info.server_name) = (true, server_name(data)?),
            EXTENSION_ALPN if seen_alpn => {
                return Err(HelloError::Malformed("two ALPN extensions"))
            }
            EXTENSION_ALPN => (seen_alpn, info.alpn) = (true, alpn(data)?),
            _ => {}
        }
    }
    Ok(info)
}

/// The server_name extension: a list of (name type, name); the host_name entry is read.
/// Entries of other types (none is defined) are skipped: all use the same 16-bit length.
fn server_name(data: &[u8]) -> Result<Option<String>, HelloError> {
    let list = whole_vec16(data, "server name list does not fill its extension")?;
    let mut list = Reader(list);
    if list.0.is_empty() {
        return Err(HelloError::Malformed("empty server name list"));
    }
    let mut host = None;
    while !list.0.is_empty() {
        let kind = list.u8("server name entry cut short")?;
        let name = list.vec16("server name overruns its list")?;
        if kind == NAME_TYPE_HOST_NAME {
            // RFC 6066: no two names of the same type.
            if host.is_some() {
                return Err(HelloError::Malformed("two host names"));
            }
            host = Some(dns_name(name)?);
        }
    }
    Ok(host)
}

/// A host name as routing compares it: ASCII letters, digits and `-` in dot-separated labels,
/// lower-cased, without the trailing dot of a fully qualified name.
fn dns_name(name: &[u8]) -> Result<String, HelloError> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.split(|&b| b == b'.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_BYTES
                && label
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid {
        return Err(HelloError::Malformed("server name is not a valid DNS name"));
    }
    Ok(name
        .iter()
        .map(|&b| char::from(b.to_ascii_lowercase()))
        .collect())
}

/// The ALPN extension: a non-empty list of non-empty protocol names.
fn alpn(data: &[u8]) -> Result<Vec<Vec<u8>>, HelloError> {
    let list = whole_vec16(data, "ALPN list does not fill its extension")?;
    let mut list = Reader(list);
    if list.0.is_empty() {
        return Err(HelloError::Malformed("empty ALPN list"));
    }
    let mut protocols = Vec::new();
    while !list.0.is_empty() {
        let protocol = list.vec8("ALPN protocol overruns its list")?;
        if protocol.is_empty() {
            return Err(HelloError::Malformed("empty ALPN protocol name"));
        }
        protocols.push(protocol.to_vec());
    }
    Ok(protocols)
}

/// A 16-bit-length-prefixed vector that must be all of `data`.
fn whole_vec16<'a>(data: &'a [u8], reason: &'static str) -> Result<&'a [u8], HelloError> {
    let mut reader = Reader(data);
    let inner = reader.vec16(reason)?;
    match reader.0.is_empty() {
        true => Ok(inner),
        false => Err(HelloError::Malformed(reason)),
    }
}

// === impl Reader ===

/// Reads big-endian fields and length-prefixed vectors off the front of a slice; running
/// past its end is `Malformed` with the caller's reason, never a panic.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, reason: &'static str) -> Result<&'a [u8], HelloError> {
        let Some((taken, rest)) = self.0.split_at_checked(n) else {
            return Err(HelloError::Malformed(reason));
        };
        self.0 = rest;
        Ok(taken)
    }

    fn u8(&mut self, reason: &'static str) -> Result<u8, HelloError> {
        Ok(self.take(1, reason)?[0])
    }

    fn u16(&mut self, reason: &'static str) -> Result<u16, HelloError> {
        let bytes = self.take(2, reason)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn vec8(&mut self, reason: &'static str) -> Result<&'a [u8], HelloError> {
        let length = self.u8(reason)?;
        self.take(usize::from(length), reason)
    }

    fn vec16(&mut self, reason: &'static str) -> Result<&'a [u8], HelloError> {
        let length = self.u16(reason)?;
        self.take(usize::from(length), reason)
    }
}
