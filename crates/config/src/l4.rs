//! The settings only L4 listeners and groups have.

use std::time::Duration;

/// What a `tcp`, `udp`, `tcp_udp` or `tls` listener adds to the common listener keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L4ListenerConfig {
    /// A TCP connection with no byte moving either way is closed after this long.
    pub idle_timeout: Duration,
    /// A UDP flow with no datagram either way is forgotten after this long.
    pub udp_idle_timeout: Duration,
    /// Time a client has to send its TLS ClientHello when rules read its SNI (or to finish
    /// the handshake on a `tls` listener), and to send a PROXY protocol header.
    pub client_hello_timeout: Duration,
    /// Most UDP flows remembered at once (per worker thread); the least recently used is
    /// forgotten beyond.
    pub max_udp_flows: usize,
}

/// The PROXY protocol version a group sends to its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocolVersion {
    /// The text header.
    V1,
    /// The binary header, with TLVs (SNI, ALPN).
    V2,
}

impl ProxyProtocolVersion {
    /// The header of a connection that carries no client's traffic (a health check), as NLB
    /// sends on its checks: v1 `UNKNOWN`, v2 `LOCAL` with no addresses. Targets that insist on
    /// a header accept it, and know to use the connection's own addresses.
    pub fn local_header(self) -> &'static [u8] {
        match self {
            Self::V1 => b"PROXY UNKNOWN\r\n",
            // The v2 signature, version 2 with command LOCAL (0x20), family UNSPEC, length 0.
            Self::V2 => b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00",
        }
    }
}

impl crate::ListenerProtocol {
    /// Whether this is an L4 protocol (`tcp`, `udp`, `tcp_udp`, `tls`).
    pub fn is_l4(self) -> bool {
        !matches!(self, Self::Http | Self::Https)
    }

    /// Whether its listener takes TCP connections.
    pub fn uses_tcp(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// Whether its listener takes UDP datagrams.
    pub fn uses_udp(self) -> bool {
        matches!(self, Self::Udp | Self::TcpUdp)
    }

    /// Its name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::TcpUdp => "tcp_udp",
            Self::Tls => "tls",
        }
    }
}

impl crate::TargetProtocol {
    /// Whether this is an L4 protocol (`tcp`, `udp`, `tcp_udp`, `tls`).
    pub fn is_l4(self) -> bool {
        !matches!(self, Self::Http | Self::Https)
    }

    /// Its name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::TcpUdp => "tcp_udp",
            Self::Tls => "tls",
        }
    }
}

impl crate::ListenerProtocol {
    /// Whether a listener of this protocol may forward to a group of `group`'s: HTTP
    /// listeners to HTTP groups; `tcp` and `tls` listeners to `tcp` and `tls` groups; `udp`
    /// listeners to `udp` and `tcp_udp` groups; `tcp_udp` listeners to `tcp_udp` groups.
    pub fn carries(self, group: crate::TargetProtocol) -> bool {
        use crate::TargetProtocol as G;
        match self {
            Self::Http | Self::Https => matches!(group, G::Http | G::Https),
            Self::Tcp | Self::Tls => matches!(group, G::Tcp | G::Tls),
            Self::Udp => matches!(group, G::Udp | G::TcpUdp),
            Self::TcpUdp => matches!(group, G::TcpUdp),
        }
    }

    /// The group protocols [`carries`](Self::carries) accepts, for error messages.
    pub fn carried_names(self) -> &'static str {
        match self {
            Self::Http | Self::Https => "http or https",
            Self::Tcp | Self::Tls => "tcp or tls",
            Self::Udp => "udp or tcp_udp",
            Self::TcpUdp => "tcp_udp",
        }
    }
}

/// Every protocol name a listener or group accepts, for parsing and error messages.
pub(crate) const PROTOCOL_NAMES: &str =
    "\"http\", \"https\", \"tcp\", \"udp\", \"tcp_udp\" or \"tls\"";

impl crate::ListenerProtocol {
    /// The protocol of this name in the file.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        use crate::ListenerProtocol as L;
        [L::Http, L::Https, L::Tcp, L::Udp, L::TcpUdp, L::Tls]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

impl crate::TargetProtocol {
    /// The protocol of this name in the file.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        use crate::TargetProtocol as G;
        [G::Http, G::Https, G::Tcp, G::Udp, G::TcpUdp, G::Tls]
            .into_iter()
            .find(|p| p.name() == name)
    }
}
