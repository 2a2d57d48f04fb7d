//! The PROXY protocol, v1 (text) and v2 (binary): parsing the header a trusted proxy in front
//! of Ballast sends, and encoding the header Ballast sends to its targets.
//!
//! Spec: <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>. Pure and sans-io
//! (CONVENTIONS 7.4.7): `parse` says whether the bytes read so far are a whole header, could
//! still become one, or cannot; the listener owns the reads and the timeout. It never reads
//! past the header, so the caller knows exactly where the client's own bytes start.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[cfg(test)]
mod tests;

/// Longest header `parse` accepts. v1 lines are at most 107 bytes by the spec; a v2 header may
/// declare up to 64 KiB, which no proxy has reason to send, so a longer one is refused.
pub const MAX_HEADER_BYTES: usize = 4096;

/// Which version of the header Ballast sends to a target (a target group setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    /// The human-readable line, `PROXY TCP4 a b p q\r\n`.
    V1,
    /// The binary header, which can also carry TLVs (SNI, ALPN).
    V2,
}

/// The two endpoints of the client's connection as the first proxy saw them.
///
/// Only IP and port are carried: an IPv6 address's flow info and scope id are not part of
/// either version of the header, so they come back as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyAddresses {
    /// The client's address.
    pub source: SocketAddr,
    /// The address the client connected to.
    pub destination: SocketAddr,
}

/// TLVs Ballast sends in v2 (PP2_TYPE_ALPN 0x01, PP2_TYPE_AUTHORITY 0x02 = SNI).
///
/// Lets a target behind Ballast learn the name and protocol the client asked for. A value that
/// would push the header past [`MAX_HEADER_BYTES`] is left out: Ballast must accept its own.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tlvs<'a> {
    /// The server name the client asked for (SNI), sent as PP2_TYPE_AUTHORITY.
    pub authority: Option<&'a str>,
    /// The negotiated application protocol, sent as PP2_TYPE_ALPN.
    pub alpn: Option<&'a [u8]>,
}

/// What `parse` found at the start of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// a whole header: its addresses (None for v2 LOCAL / v1 UNKNOWN) and its length in bytes
    Complete {
        /// The connection's endpoints; `None` when the header says to use the real ones (v1
        /// `UNKNOWN`, v2 `LOCAL`, v2 `UNSPEC` or `AF_UNIX`).
        addresses: Option<ProxyAddresses>,
        /// The v2 PP2_TYPE_AUTHORITY TLV (the client's SNI) when it is valid UTF-8. Not checked
        /// as a host name: it is the sender's word, like the addresses.
        authority: Option<String>,
        /// Length of the header; the client's own bytes start at this offset.
        consumed: usize,
    },
    /// The bytes so far are a valid start of a header: read more and call again.
    Incomplete,
}

/// Why the start of a connection is not an acceptable PROXY header.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyError {
    /// The bytes start with neither the v1 nor the v2 signature.
    #[error("not a PROXY protocol header")]
    NotProxy,
    /// The signature is there but what follows breaks the spec; the reason names the part.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    /// A v1 line without CRLF within 107 bytes, or a v2 header over [`MAX_HEADER_BYTES`].
    #[error("PROXY protocol header too long")]
    TooLong,
}

/// The v1 line starts with these bytes.
const V1_SIGNATURE: &[u8] = b"PROXY ";
/// What may follow the v1 signature.
const V1_PROTOCOLS: [&[u8]; 3] = [b"TCP4", b"TCP6", b"UNKNOWN"];
/// The spec's bound on a v1 line, CRLF included.
const V1_MAX_BYTES: usize = 107;
/// The v2 header starts with these bytes (chosen by the spec so that no text protocol starts so).
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version and command, family and transport, length.
const V2_FIXED_BYTES: usize = 16;
/// Byte 13: version 2 (high nibble), command LOCAL or PROXY (low nibble).
const V2_VERSION: u8 = 0x20;
const V2_LOCAL: u8 = 0x0;
const V2_PROXY: u8 = 0x1;
/// Byte 14, address family (high nibble) and transport (low): the values the spec defines
/// (UNSPEC; TCP and UDP over IPv4 and IPv6; UNIX stream and datagram). Any other is refused.
const V2_FAMILIES: [u8; 7] = [0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32];
const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 1;
const AF_INET6: u8 = 2;
const STREAM: u8 = 1;
/// Size of the AF_UNIX address block (two paths of 108 bytes).
const V2_UNIX_BYTES: usize = 216;
const PP2_TYPE_ALPN: u8 = 0x01;
const PP2_TYPE_AUTHORITY: u8 = 0x02;
/// Type and two length bytes.
const TLV_HEADER_BYTES: usize = 3;

/// Parses the PROXY header at the start of a connection; `buf` starts at byte 0.
///
/// Returns `Incomplete` while `buf` is a valid prefix of a header (of either signature, too),
/// and an error as soon as it cannot be one: `NotProxy` when neither signature matches,
/// `Malformed` or `TooLong` when one does but the rest is wrong. v1 is parsed strictly: single
/// spaces, canonical ports, addresses of the line's family. In v2, TLVs must exactly fill the
/// space after the address block; only PP2_TYPE_AUTHORITY is read, and a second one refused so
/// no two readers can pick different ones. For the `LOCAL` command and the `UNSPEC` family the
/// spec says to discard the address block, so their TLVs are not read either.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.starts_with(V1_SIGNATURE) {
        parse_v1(buf)
    } else if buf.starts_with(&V2_SIGNATURE) {
        parse_v2(buf)
    } else if V1_SIGNATURE.starts_with(buf) || V2_SIGNATURE.starts_with(buf) {
        Ok(Parsed::Incomplete)
    } else {
        Err(ProxyError::NotProxy)
    }
}

/// Appends the v1 line for `addresses`. One IPv4 and one IPv6 endpoint are both sent as IPv6
/// (`TCP6`, the IPv4 one in its IPv4-mapped form), as the line has a single family.
pub fn encode_v1(addresses: &ProxyAddresses, out: &mut Vec<u8>) {
    let (source, destination) = (addresses.source, addresses.destination);
    let (v4, ip) = line_family(addresses);
    let protocol = if v4 { "TCP4" } else { "TCP6" };
    let (source_ip, source_port) = (ip(source), source.port());
    let (destination_ip, destination_port) = (ip(destination), destination.port());
    let line = format_args!("{source_ip} {destination_ip} {source_port} {destination_port}");
    push_display(out, format_args!("PROXY {protocol} {line}\r\n"));
}

/// Appends a v2 header for `addresses` with the `PROXY` command over `STREAM`, followed by
/// the TLVs present in `tlvs` (ALPN first, then authority). Mixed families are sent as
/// `AF_INET6`, the IPv4 endpoint in its IPv4-mapped form.
pub fn encode_v2(addresses: &ProxyAddresses, tlvs: &Tlvs<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    let (source, destination) = (addresses.source, addresses.destination);
    let (v4, ip) = line_family(addresses);
    out.extend_from_slice(&V2_SIGNATURE);
    // The two length bytes are filled in once the TLVs are written.
    let family = if v4 { AF_INET } else { AF_INET6 };
    out.extend_from_slice(&[V2_VERSION | V2_PROXY, family << 4 | STREAM, 0, 0]);
    for endpoint in [source, destination] {
        match ip(endpoint) {
            IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
        }
    }
    out.extend_from_slice(&source.port().to_be_bytes());
    out.extend_from_slice(&destination.port().to_be_bytes());
    let mut room = MAX_HEADER_BYTES - (out.len() - start);
    if let Some(alpn) = tlvs.alpn {
        push_tlv(out, PP2_TYPE_ALPN, alpn, &mut room);
    }
    if let Some(authority) = tlvs.authority {
        push_tlv(out, PP2_TYPE_AUTHORITY, authority.as_bytes(), &mut room);
    }
    // `room` keeps the header within MAX_HEADER_BYTES, so the length fits its two bytes.
    let length = out.len() - start - V2_FIXED_BYTES;
    debug_assert!(length <= MAX_HEADER_BYTES - V2_FIXED_BYTES);
    let length = u16::try_from(length).unwrap_or(u16::MAX);
    out[start + 14..start + 16].copy_from_slice(&length.to_be_bytes());
}

/// Appends the header of `version`; v1 has no TLVs and ignores `tlvs`.
pub fn encode(
    version: ProxyVersion,
    addresses: &ProxyAddresses,
    tlvs: &Tlvs<'_>,
    out: &mut Vec<u8>,
) {
    match version {
        ProxyVersion::V1 => encode_v1(addresses, out),
        ProxyVersion::V2 => encode_v2(addresses, tlvs, out),
    }
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX_BYTES)];
    let Some(line_end) = window.iter().position(|&b| b == b'\n') else {
        if buf.len() >= V1_MAX_BYTES {
            return Err(ProxyError::TooLong);
        }
        // Refuse a line gone wrong without waiting for its end, so a client not speaking PROXY
        // is turned away at once. After a CR, every field must be whole.
        let partial = &buf[V1_SIGNATURE.len()..];
        let line = partial.strip_suffix(b"\r");
        return v1_line(line.unwrap_or(partial), line.is_some()).map(|_| Parsed::Incomplete);
    };
    let line = window[V1_SIGNATURE.len()..line_end]
        .strip_suffix(b"\r")
        .ok_or(ProxyError::Malformed("v1 line ends without CR"))?;
    let addresses = v1_line(line, true)?;
    Ok(Parsed::Complete {
        addresses,
        authority: None,
        consumed: line_end + 1,
    })
}

/// Checks a v1 line between `PROXY ` and CRLF and returns its addresses; when not `whole`, that
/// the start of a line can still become valid (every field whole but the last, a prefix).
fn v1_line(line: &[u8], whole: bool) -> Result<Option<ProxyAddresses>, ProxyError> {
    if line.contains(&b'\r') {
        return Err(ProxyError::Malformed("v1 line holds a stray CR"));
    }
    // The spec: after UNKNOWN the receiver ignores everything up to the CRLF.
    if line == b"UNKNOWN" || line.starts_with(b"UNKNOWN ") {
        return Ok(None);
    }
    let count = line.split(|&b| b == b' ').count();
    if count > 5 || (whole && count < 5) {
        return Err(ProxyError::Malformed("v1 line does not have 5 fields"));
    }
    let v6 = line.starts_with(b"TCP6");
    let mut ips = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); 2];
    let mut ports = [0; 2];
    for (i, field) in line.split(|&b| b == b' ').enumerate() {
        let valid = match (i, whole || i + 1 < count) {
            (0, true) => matches!(field, b"TCP4" | b"TCP6"),
            (0, false) => V1_PROTOCOLS.iter().any(|p| p.starts_with(field)),
            (1 | 2, true) => ip(field, v6).map(|ip| ips[i - 1] = ip).is_some(),
            (1 | 2, false) => ip_prefix(field, v6),
            (_, true) => port(field).map(|port| ports[i - 3] = port).is_some(),
            // Every prefix of a canonical port is one itself.
            (_, false) => field.is_empty() || port(field).is_some(),
        };
        if !valid {
            return Err(ProxyError::Malformed("v1 field is invalid"));
        }
    }
    Ok(Some(ProxyAddresses {
        source: SocketAddr::new(ips[0], ports[0]),
        destination: SocketAddr::new(ips[1], ports[1]),
    }))
}

/// An address of the line's family; Rust's parser is already strict (dotted quad without
/// leading zeros; no IPv6 zone).
fn ip(field: &[u8], v6: bool) -> Option<IpAddr> {
    let text = std::str::from_utf8(field).ok()?;
    match v6 {
        false => text.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        true => text.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
    }
}

/// Whether `field` can still grow into an address of the line's family: for IPv4, at most 4
/// parts, each an octet, the last maybe still empty; for IPv6 only its characters and length
/// (45, `ffff:…:ffff:255.255.255.255`), as it is checked in full once the field ends.
fn ip_prefix(field: &[u8], v6: bool) -> bool {
    let parts = field.split(|&b| b == b'.');
    let count = parts.clone().count();
    let octet = |(i, part): (usize, &[u8])| match part.is_empty() {
        true => i + 1 == count,
        false => decimal(part).is_some_and(|n| n <= 255),
    };
    let v6_char = |b: &u8| b.is_ascii_hexdigit() || *b == b':' || *b == b'.';
    match v6 {
        true => field.len() <= 45 && field.iter().all(v6_char),
        false => count <= 4 && parts.enumerate().all(octet),
    }
}

/// A port: decimal, 0 to 65535, no leading zero.
fn port(field: &[u8]) -> Option<u16> {
    decimal(field).and_then(|n| u16::try_from(n).ok())
}

/// A canonical decimal number of at most 5 digits: no sign, no leading zero.
fn decimal(digits: &[u8]) -> Option<u32> {
    let canonical =
        !digits.is_empty() && digits.len() <= 5 && !(digits.len() > 1 && digits[0] == b'0');
    if !canonical || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, &d| n * 10 + u32::from(d - b'0')))
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    // Each fixed byte is checked as soon as it arrives.
    let (version_command, family) = (buf.get(12), buf.get(13));
    if version_command.is_some_and(|b| b & 0xf0 != V2_VERSION || b & 0x0f > V2_PROXY) {
        return Err(ProxyError::Malformed("v2 version or command unknown"));
    }
    if family.is_some_and(|family| !V2_FAMILIES.contains(family)) {
        return Err(ProxyError::Malformed("v2 family and transport unknown"));
    }
    let Some(length) = buf.get(14..16) else {
        return Ok(Parsed::Incomplete);
    };
    let total = V2_FIXED_BYTES + usize::from(u16::from_be_bytes([length[0], length[1]]));
    if total > MAX_HEADER_BYTES {
        return Err(ProxyError::TooLong);
    }
    let Some(block) = buf.get(V2_FIXED_BYTES..total) else {
        return Ok(Parsed::Incomplete);
    };
    let short = ProxyError::Malformed("v2 length is shorter than its address block");
    let (addresses, tlvs) = match (buf[12] & 0x0f, buf[13] >> 4) {
        // The spec: use the real endpoints and discard the whole block, family included.
        (V2_LOCAL, _) | (_, AF_UNSPEC) => (None, &[][..]),
        (_, AF_INET) => inet::<4>(block).ok_or(short)?,
        (_, AF_INET6) => inet::<16>(block).ok_or(short)?,
        // AF_UNIX: paths mean nothing to a TCP listener; the TLVs after them still count.
        _ => (None, block.get(V2_UNIX_BYTES..).ok_or(short)?),
    };
    let authority = authority(tlvs)?;
    Ok(Parsed::Complete {
        addresses,
        authority,
        consumed: total,
    })
}

/// Reads an AF_INET or AF_INET6 block (source and destination address of `N` bytes each,
/// source and destination port) and returns the endpoints and the TLVs after it.
fn inet<const N: usize>(block: &[u8]) -> Option<(Option<ProxyAddresses>, &[u8])>
where
    IpAddr: From<[u8; N]>,
{
    let (source, rest) = block.split_first_chunk::<N>()?;
    let (destination, rest) = rest.split_first_chunk::<N>()?;
    let (&[sp0, sp1, dp0, dp1], tlvs) = rest.split_first_chunk::<4>()?;
    let endpoint = |ip: &[u8; N], port| SocketAddr::new((*ip).into(), u16::from_be_bytes(port));
    let addresses = ProxyAddresses {
        source: endpoint(source, [sp0, sp1]),
        destination: endpoint(destination, [dp0, dp1]),
    };
    Some((Some(addresses), tlvs))
}

/// Walks the TLVs, which must exactly fill `tlvs`, and returns the authority if there is one.
fn authority(mut tlvs: &[u8]) -> Result<Option<String>, ProxyError> {
    let mut found: Option<&[u8]> = None;
    while !tlvs.is_empty() {
        let Some(&[kind, high, low]) = tlvs.get(..TLV_HEADER_BYTES) else {
            return Err(ProxyError::Malformed("v2 TLV header cut short"));
        };
        let end = TLV_HEADER_BYTES + usize::from(u16::from_be_bytes([high, low]));
        let value = tlvs.get(TLV_HEADER_BYTES..end);
        let value = value.ok_or(ProxyError::Malformed("v2 TLV longer than the header"))?;
        if kind == PP2_TYPE_AUTHORITY {
            if found.is_some() {
                return Err(ProxyError::Malformed("v2 header has two authority TLVs"));
            }
            found = Some(value);
        }
        tlvs = &tlvs[end..];
    }
    let text = found.and_then(|value| std::str::from_utf8(value).ok());
    Ok(text.map(str::to_owned))
}

/// Whether both endpoints are IPv4, and how to write each endpoint's address: as is when
/// both are IPv4, else in IPv6 form (an IPv4 address mapped, `::ffff:a.b.c.d`).
fn line_family(addresses: &ProxyAddresses) -> (bool, impl Fn(SocketAddr) -> IpAddr) {
    let v4 = addresses.source.is_ipv4() && addresses.destination.is_ipv4();
    (v4, move |endpoint: SocketAddr| match endpoint.ip() {
        IpAddr::V4(ip) if !v4 => IpAddr::V6(ip.to_ipv6_mapped()),
        ip => ip,
    })
}

/// Appends one TLV if `value` fits in `room`, the bytes left under [`MAX_HEADER_BYTES`].
fn push_tlv(out: &mut Vec<u8>, kind: u8, value: &[u8], room: &mut usize) {
    // A value that fits `room` also fits the 16-bit length.
    let left = room.checked_sub(TLV_HEADER_BYTES + value.len());
    let (Some(left), Ok(length)) = (left, u16::try_from(value.len())) else {
        return;
    };
    *room = left;
    out.push(kind);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(value);
}

/// Appends `value` as text without a `format!` allocation.
fn push_display(out: &mut Vec<u8>, value: impl fmt::Display) {
    use std::io::Write as _;
    // `io::Write` for `Vec<u8>` only grows the vector and never returns an error.
    let written = write!(out, "{value}");
    debug_assert!(written.is_ok(), "writing into a Vec cannot fail");
}
