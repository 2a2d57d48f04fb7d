//! Validated listener rules and the actions that answer without a target: conditions as
//! compiled-ready data (globs lower-cased where matching is case-insensitive, CIDR blocks
//! parsed), redirects and fixed responses.

use std::fmt;
use std::net::IpAddr;

/// One prioritised rule of a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// 1 to 50000; the lowest matching priority wins.
    pub priority: u32,
    /// What a request must match.
    pub conditions: Conditions,
    /// What happens to it then.
    pub action: crate::Action,
    /// Fields rewritten on its requests to targets, after the listener's.
    pub request_headers: crate::HeaderRewrite,
    /// Fields rewritten on its responses, after the listener's.
    pub response_headers: crate::HeaderRewrite,
    /// The rate matching requests are held to, after the listener's.
    pub rate_limit: Option<std::sync::Arc<crate::RateLimitConfig>>,
    /// The web application firewall matching requests meet, after the listener's.
    pub waf: Option<std::sync::Arc<crate::WafConfig>>,
}

/// The conditions of a rule: every kind present must match (AND), any value of a kind may
/// (OR). An empty kind is absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conditions {
    /// Host globs, lower case; the request's host is compared without its port.
    pub host: Vec<String>,
    /// Path globs, case-sensitive, on the path without the query.
    pub path: Vec<String>,
    /// Header conditions (each must match).
    pub header: Vec<HeaderCondition>,
    /// Methods, exact and case-sensitive.
    pub method: Vec<String>,
    /// Query conditions (each must match).
    pub query: Vec<QueryCondition>,
    /// Client address blocks.
    pub source_ip: Vec<Cidr>,
    /// TLS server names of a `tcp` listener's connections (exact, or `*.` wildcards), lower
    /// case.
    pub sni: Vec<String>,
    /// ALPN protocols a `tcp` listener's TLS client offers (any may match).
    pub alpn: Vec<String>,
}

/// A header that must be present with a value matching one of the globs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCondition {
    /// Header name, lower case.
    pub name: String,
    /// Value globs, lower case (matching is case-insensitive).
    pub values: Vec<String>,
}

/// A query parameter that must be present with a value matching one of the globs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryCondition {
    /// Key glob, lower case (matching is case-insensitive).
    pub key: String,
    /// Value globs, lower case (matching is case-insensitive).
    pub values: Vec<String>,
}

/// An IPv4 or IPv6 address block (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A redirect answered by Ballast itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectConfig {
    /// 301, 302, 307 or 308.
    pub status: u16,
    /// `http`, `https` or `#{protocol}`.
    pub protocol: String,
    /// Host template (`#{host}` keeps the request's).
    pub host: String,
    /// Port template (`#{port}` keeps the request's).
    pub port: String,
    /// Path template, starting with `/` (`/#{path}` keeps the request's).
    pub path: String,
    /// Query template without `?` (`#{query}` keeps the request's).
    pub query: String,
}

/// A response answered by Ballast itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedResponse {
    /// A 2xx, 4xx or 5xx status.
    pub status: u16,
    /// Content type of the body.
    pub content_type: String,
    /// The body (at most 1 KiB).
    pub body: String,
}

// === impl Cidr ===

impl Cidr {
    /// Parses `ADDR/PREFIX` (or a bare address, a single host).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("\"{addr}\" is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("\"{p}\" is not a prefix length from 0 to {max}"))?,
        };
        Ok(Self {
            network: mask(addr, prefix),
            prefix,
        })
    }

    /// The first address of the block.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if prefix == 0 {
                0
            } else {
                bits & (u32::MAX << (32 - u32::from(prefix)))
            };
            IpAddr::V4(kept.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if prefix == 0 {
                0
            } else {
                bits & (u128::MAX << (128 - u32::from(prefix)))
            };
            IpAddr::V6(kept.into())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks_contain_their_addresses() {
        let block = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(block.contains("10.1.200.3".parse().unwrap()));
        assert!(!block.contains("10.2.0.1".parse().unwrap()));
        assert!(
            block.contains("::ffff:10.1.0.9".parse().unwrap()),
            "mapped IPv4"
        );
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("10.1.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert_eq!(Cidr::parse("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("ten/8").is_err());
        assert_eq!(
            Cidr::parse("127.0.0.1").unwrap().to_string(),
            "127.0.0.1/32"
        );
    }
}
