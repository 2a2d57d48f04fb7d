//! What a listener checks at accept, before it reads a byte: who may connect (`allow`,
//! `deny`, `[ip_sets]`) and how much one client address may open (`client_limits`).

use std::net::IpAddr;

use crate::Cidr;

/// A listener's admission policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgePolicy {
    /// Only clients in these blocks may connect; `None`: every address (less `deny`).
    pub allow: Option<CidrSet>,
    /// Clients in these blocks may not connect, whatever `allow` says.
    pub deny: CidrSet,
    /// What one client address may open.
    pub client_limits: ClientLimits,
}

impl EdgePolicy {
    /// Whether a client at `ip` may connect at all.
    pub fn admits(&self, ip: IpAddr) -> bool {
        !self.deny.contains(ip) && self.allow.as_ref().is_none_or(|a| a.contains(ip))
    }

    /// Whether the policy checks anything (the accept path skips it when not).
    pub fn is_open(&self) -> bool {
        self.allow.is_none()
            && self.deny.is_empty()
            && self.client_limits == ClientLimits::default()
    }
}

/// Per client address limits; every one is off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientLimits {
    /// Connections one address may have open at once.
    pub max_connections: Option<u32>,
    /// New connections one address may open, as a token bucket.
    pub connection_rate: Option<Rate>,
}

/// A token bucket: `per_second` tokens added each second, at most `burst` held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: u32,
    /// Tokens held at most (the burst allowed above the rate).
    pub burst: u32,
}

/// A request rate per key (`[rate_limits.NAME]`): requests over it are answered `429`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Its name.
    pub name: std::sync::Arc<str>,
    /// What requests are counted by (all parts together).
    pub key: Vec<RateKey>,
    /// Requests per second, with a burst.
    pub per_second: Option<Rate>,
    /// Requests per minute (the bucket holds a minute's worth).
    pub per_minute: Option<u32>,
}

/// A part of a rate limit's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKey {
    /// The client's address (from `X-Forwarded-For` when the peer is a trusted proxy, or
    /// a trusted PROXY header).
    ClientIp,
    /// A header's first value (name in lower case).
    Header(String),
    /// A cookie's value.
    Cookie(String),
    /// The path.
    Path,
    /// The host.
    Host,
    /// The method.
    Method,
}

/// Address blocks compiled to sorted, merged ranges: a lookup is a binary search, so a
/// set of thousands of blocks costs a few comparisons per connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl CidrSet {
    /// The set of `blocks`.
    pub fn new(blocks: &[Cidr]) -> Self {
        let mut v4_ranges = Vec::new();
        let mut v6 = Vec::new();
        for block in blocks {
            // A block of IPv4-mapped IPv6 addresses is the IPv4 block it maps: clients are
            // looked up as IPv4.
            let mapped = match block.network() {
                IpAddr::V6(v6) if block.prefix() >= 96 => v6.to_ipv4_mapped(),
                _ => None,
            };
            if let Some(v4) = mapped {
                let start = u32::from(v4);
                let size = u32::MAX
                    .checked_shr(u32::from(block.prefix() - 96))
                    .unwrap_or(0);
                v4_ranges.push((start, start | size));
                continue;
            }
            match block.network() {
                IpAddr::V4(network) => {
                    let start = u32::from(network);
                    let size = u32::MAX.checked_shr(u32::from(block.prefix())).unwrap_or(0);
                    v4_ranges.push((start, start | size));
                }
                IpAddr::V6(network) => {
                    let start = u128::from(network);
                    let size = u128::MAX
                        .checked_shr(u32::from(block.prefix()))
                        .unwrap_or(0);
                    v6.push((start, start | size));
                }
            }
        }
        Self {
            v4: merge(v4_ranges),
            v6: merge(v6),
        }
    }

    /// Whether the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether `ip` is in the set (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(ip) => within(&self.v4, u32::from(ip)),
            IpAddr::V6(ip) => within(&self.v6, u128::from(ip)),
        }
    }
}

/// Sorted ranges with overlapping and adjacent ones joined.
fn merge<T: Ord + Copy + num_like::Successor>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if last.1.successor().is_none_or(|next| start <= next) => {
                last.1 = last.1.max(end);
            }
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn within<T: Ord + Copy>(ranges: &[(T, T)], ip: T) -> bool {
    // The last range starting at or before `ip` is the only one that can hold it.
    let after = ranges.partition_point(|&(start, _)| start <= ip);
    after > 0 && ranges[after - 1].1 >= ip
}

mod num_like {
    /// The next value, if any (the end of a range plus one).
    pub(super) trait Successor: Sized {
        fn successor(self) -> Option<Self>;
    }
    impl Successor for u32 {
        fn successor(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
    impl Successor for u128 {
        fn successor(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(blocks: &[&str]) -> CidrSet {
        let blocks: Vec<Cidr> = blocks.iter().map(|b| Cidr::parse(b).unwrap()).collect();
        CidrSet::new(&blocks)
    }

    #[test]
    fn blocks_ranges_and_families() {
        let s = set(&["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "0.0.0.0/32"]);
        for ip in [
            "10.0.0.0",
            "10.255.255.255",
            "192.168.1.7",
            "2001:db8::1",
            "::ffff:10.1.2.3",
            "0.0.0.0",
        ] {
            assert!(s.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "11.0.0.0",
            "9.255.255.255",
            "192.168.1.8",
            "2001:db9::",
            "::",
            "::ffff:11.0.0.1",
        ] {
            assert!(!s.contains(ip.parse().unwrap()), "{ip}");
        }
        assert!(set(&["0.0.0.0/0"]).contains("255.255.255.255".parse().unwrap()));
        assert!(set(&["::/0"]).contains("ffff::1".parse().unwrap()));
        assert!(!set(&["::/0"]).contains("1.2.3.4".parse().unwrap()));
        assert!(set(&[]).is_empty());
        // A block written as IPv4-mapped IPv6 holds the IPv4 clients it maps.
        let mapped = set(&["::ffff:203.0.113.0/120"]);
        assert!(mapped.contains("203.0.113.9".parse().unwrap()));
        assert!(mapped.contains("::ffff:203.0.113.9".parse().unwrap()));
        assert!(!mapped.contains("203.0.114.9".parse().unwrap()));
    }

    #[test]
    fn overlapping_and_adjacent_blocks_merge() {
        let s = set(&[
            "10.0.0.0/25",
            "10.0.0.128/25",
            "10.0.0.0/24",
            "10.0.1.0/24",
            "255.255.255.255",
        ]);
        assert_eq!(s.v4, vec![(0x0a00_0000, 0x0a00_01ff), (u32::MAX, u32::MAX)]);
    }

    #[test]
    fn policy_deny_wins_over_allow() {
        let policy = EdgePolicy {
            allow: Some(set(&["10.0.0.0/8"])),
            deny: set(&["10.1.0.0/16"]),
            client_limits: ClientLimits::default(),
        };
        assert!(policy.admits("10.2.0.1".parse().unwrap()));
        assert!(!policy.admits("10.1.0.1".parse().unwrap()));
        assert!(!policy.admits("11.0.0.1".parse().unwrap()));
        assert!(!policy.is_open());
        assert!(EdgePolicy::default().is_open());
        assert!(EdgePolicy::default().admits("1.2.3.4".parse().unwrap()));
    }

    proptest! {
        /// The compiled set answers as a scan of the blocks does.
        #[test]
        fn same_answer_as_a_scan(
            blocks in proptest::collection::vec((any::<u32>(), 0u8..=32), 0..20),
            probes in proptest::collection::vec(any::<u32>(), 1..50),
        ) {
            let blocks: Vec<Cidr> = blocks
                .iter()
                .map(|(ip, prefix)| Cidr::parse(&format!("{}/{prefix}", std::net::Ipv4Addr::from(*ip))).unwrap())
                .collect();
            let s = CidrSet::new(&blocks);
            let mut probes = probes;
            // Probe the edges of every block too.
            for b in &blocks {
                if let IpAddr::V4(n) = b.network() {
                    let start = u32::from(n);
                    let end = start | u32::MAX.checked_shr(u32::from(b.prefix())).unwrap_or(0);
                    probes.extend([start, end, start.wrapping_sub(1), end.wrapping_add(1)]);
                }
            }
            for p in probes {
                let ip = IpAddr::V4(p.into());
                prop_assert_eq!(s.contains(ip), blocks.iter().any(|b| b.contains(ip)));
            }
        }
    }
}

/// ALB's desync mitigation modes: what an HTTP/1 request meets for its desync class
/// (compliant, acceptable, ambiguous, severe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DesyncMode {
    /// Every request is served and counted; ambiguous and severe ones close both
    /// connections after them.
    Monitor,
    /// Compliant and acceptable requests are served, ambiguous ones served then both
    /// connections closed, severe ones refused (`400`).
    #[default]
    Defensive,
    /// Only compliant requests are served; all others are refused.
    Strictest,
}

impl DesyncMode {
    /// Every mode with its name in the configuration.
    pub const ALL: [(DesyncMode, &'static str); 3] = [
        (DesyncMode::Monitor, "monitor"),
        (DesyncMode::Defensive, "defensive"),
        (DesyncMode::Strictest, "strictest"),
    ];

    /// Its name in the configuration.
    pub fn name(self) -> &'static str {
        DesyncMode::ALL
            .iter()
            .find(|(m, _)| *m == self)
            .map_or("defensive", |(_, n)| n)
    }
}
