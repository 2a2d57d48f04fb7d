//! What every request on one client connection shares: the listener it arrived on, the
//! client's address, and what the TLS handshake settled. The bottom of the crate: it
//! imports only the snapshot handle.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ballast_config::ListenerName;
use ballast_telemetry::metrics::ListenerMetrics;

use crate::buf::BufferPool;
use crate::limits::{FdBudget, FdSlot, ListenerConnections, ListenerSlot, SlotMark};
use crate::snapshot::SharedSnapshot;
use crate::upstream::ProxyHeader;

/// Per listener and worker: built once when the worker starts serving the listener.
#[derive(Debug)]
pub(crate) struct ListenerShared {
    pub(crate) name: ListenerName,
    pub(crate) snapshot: SharedSnapshot,
    pub(crate) worker: usize,
    /// The listener's port, as text for `X-Forwarded-Port`.
    pub(crate) port: Box<[u8]>,
    /// The listener's address as text (`127.0.0.1:8080`): the `Host` a target receives for
    /// an HTTP/1.0 request that named none (RFC 9112 §3.3 rebuilds the authority so).
    pub(crate) authority: Box<[u8]>,
    pub(crate) buffers: Arc<BufferPool>,
    pub(crate) fds: Arc<FdBudget>,
    /// The listener's open connections, across workers: where a connection's place is
    /// given back.
    pub(crate) open: Arc<ListenerConnections>,
    /// This worker's connection tasks (an h2c connection found by the HTTP/1 loop goes on
    /// in a task of its own).
    pub(crate) connections: tokio_util::task::TaskTracker,
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct ConnCtx {
    pub(crate) listener: Arc<ListenerShared>,
    /// The TCP peer (the client, or a proxy in front of it).
    pub(crate) peer: SocketAddr,
    /// What the TLS handshake settled, on `https` listeners.
    pub(crate) tls: Option<Box<TlsInfo>>,
    /// The address the client connected to, for PROXY headers to targets: told by a PROXY
    /// header from a load balancer in front, or looked up on the socket once, when the
    /// first request to a group that sends headers comes (at the start of an HTTP/2
    /// connection, whose requests do not hold the socket). Boxed: its absence costs an idle
    /// connection 8 bytes.
    pub(crate) destination: Option<Box<SocketAddr>>,
    /// The listener's counters (`None` with metrics off); this connection counts as open in
    /// them until the context is dropped.
    pub(crate) metrics: Option<Arc<ListenerMetrics>>,
    /// Its socket's share of the descriptor budget, given back when the connection ends.
    _fd: Option<FdSlot>,
    /// Its place among the listener's open connections (`max_connections`, and its
    /// client's `client_limits`), released through `listener.open` when it ends.
    slot: Option<SlotMark>,
}

/// An IP address as text, held inline (no allocation per connection).
#[derive(Clone, Copy)]
pub(crate) struct IpText {
    bytes: [u8; 46],
    len: u8,
}

/// The TLS parameters of a client connection, for logs and for targets.
#[derive(Debug, Clone)]
pub(crate) struct TlsInfo {
    /// `TLSv1.3`, `TLSv1.2`.
    pub(crate) version: &'static str,
    /// The cipher suite's name.
    pub(crate) cipher: String,
    /// The client's certificate, URL-encoded PEM (mutual TLS passthrough, as ALB's
    /// `X-Amzn-Mtls-Clientcert`).
    pub(crate) client_cert: Option<String>,
}

// === impl ConnCtx ===

impl ConnCtx {
    /// A connection just accepted from `peer`; counts it as open on the listener.
    pub(crate) fn new(
        listener: Arc<ListenerShared>,
        peer: SocketAddr,
        metrics: Option<Arc<ListenerMetrics>>,
        fd: Option<FdSlot>,
        slot: Option<ListenerSlot>,
    ) -> Self {
        if let Some(m) = &metrics {
            m.connections.inc();
            m.connections_active.inc();
        }
        Self {
            listener,
            peer,
            tls: None,
            destination: None,
            metrics,
            _fd: fd,
            slot: slot.map(ListenerSlot::into_mark),
        }
    }

    /// `http` or `https`: how the client reached us.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The PROXY header for `group`'s connections serving this client, if the group sends
    /// one. The address the client connected to is `destination`, filled in before (told by
    /// a load balancer in front, or looked up once on the socket).
    pub(crate) fn proxy_header(&self, group: &crate::snapshot::TargetGroup) -> Option<ProxyHeader> {
        let version = group.proxy_protocol?;
        let destination = match &self.destination {
            Some(known) => **known,
            // Not looked up only when the socket was already closed, and its request fails
            // anyway: an unspecified address then, never a connection without its header.
            None => unspecified_like(self.peer),
        };
        Some(ProxyHeader {
            version,
            addresses: ballast_l4::proxy_protocol::ProxyAddresses {
                source: self.peer,
                destination,
            },
        })
    }

    /// The client's IP address.
    pub(crate) fn peer_ip(&self) -> IpAddr {
        self.peer.ip()
    }

    /// The client's IP address as text, for `X-Forwarded-For` and affinity keys. Formatted per
    /// request, not kept: kept, it would cost every idle connection 48 bytes.
    pub(crate) fn peer_text(&self) -> IpText {
        IpText::new(self.peer.ip())
    }
}

/// `0.0.0.0:0` or `[::]:0`, the family of `peer` (a PROXY header's two addresses share one).
fn unspecified_like(peer: SocketAddr) -> SocketAddr {
    match peer {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    }
}

impl Drop for ConnCtx {
    fn drop(&mut self) {
        if let Some(m) = &self.metrics {
            m.connections_active.dec();
        }
        if let Some(mark) = self.slot.take() {
            self.listener.open.release(mark);
        }
    }
}

// === impl IpText ===

impl IpText {
    /// Formats `ip` (IPv4 by hand: this runs for every request).
    pub(crate) fn new(ip: IpAddr) -> Self {
        use std::io::Write;
        let mut bytes = [0u8; 46];
        if let IpAddr::V4(v4) = ip {
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    bytes[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    bytes[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    bytes[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                bytes[len] = b'0' + octet % 10;
                len += 1;
            }
            return Self {
                bytes,
                len: len as u8,
            };
        }
        let mut cursor = std::io::Cursor::new(&mut bytes[..]);
        // 45 characters hold any IPv6 text form; the write cannot fail.
        let _ = write!(cursor, "{ip}");
        let len = cursor.position() as u8;
        Self { bytes, len }
    }

    /// The text.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for IpText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

// === impl TlsInfo ===

impl TlsInfo {
    /// What a finished handshake settled.
    pub(crate) fn from_session(session: &rustls::ServerConnection) -> Self {
        let version = match session.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "unknown",
        };
        let cipher = session
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_else(|| "unknown".to_owned());
        let client_cert = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| url_encoded_pem(leaf));
        Self {
            version,
            cipher,
            client_cert,
        }
    }
}

/// A certificate as URL-encoded PEM, the way ALB passes client certificates on.
fn url_encoded_pem(der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut body = String::new();
    for chunk in der.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                body.push(char::from(B64[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                body.push('=');
            }
        }
    }
    let mut pem = String::from("-----BEGIN%20CERTIFICATE-----%0A");
    for line in body.as_bytes().chunks(64) {
        for &b in line {
            match b {
                b'+' => pem.push_str("%2B"),
                b'/' => pem.push_str("%2F"),
                b'=' => pem.push_str("%3D"),
                _ => pem.push(char::from(b)),
            }
        }
        pem.push_str("%0A");
    }
    pem.push_str("-----END%20CERTIFICATE-----%0A");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_format_inline() {
        for ip in [
            "10.0.0.7",
            "::1",
            "2001:db8::ff00:42:8329",
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(
                IpText::new(parsed).as_bytes(),
                parsed.to_string().as_bytes()
            );
        }
    }

    proptest::proptest! {
        /// The hand-written IPv4 form is std's, for every address.
        #[test]
        fn ipv4_text_is_stds(octets in proptest::array::uniform4(0u8..)) {
            let ip = IpAddr::from(octets);
            let (ours, std) = (IpText::new(ip), ip.to_string());
            proptest::prop_assert_eq!(ours.as_bytes(), std.as_bytes());
        }
    }
}
