//! Response rate limiting (RRL, as BIND's and NSD's): answers over UDP to one client network
//! (an IPv4 /24, an IPv6 /56) are limited to a rate, so a forged source address cannot turn
//! the server into an amplifier aimed at a victim. Over the limit, one answer in two is sent
//! truncated (TC, no records: a real client retries over TCP, which cannot be forged) and the
//! rest are dropped. Pure: time comes in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// Client networks tracked at once; past this the table is cleared of idle ones, then of
/// all (a flood of sources must not grow memory).
const MAX_NETWORKS: usize = 65_536;

/// What to do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send,
    /// Send it truncated, with no records.
    Slip,
    /// Send nothing.
    Drop,
}

/// The limiter.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    networks: HashMap<[u8; 8], Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    limited: u64,
}

impl RateLimiter {
    /// A limiter of `per_second` answers per client network (0: none).
    pub fn new(per_second: u32) -> Self {
        Self {
            rate: f64::from(per_second),
            networks: HashMap::new(),
        }
    }

    /// Whether the answer to `client` at `now` is sent.
    pub fn check(&mut self, client: IpAddr, now: Instant) -> Verdict {
        if self.rate <= 0.0 {
            return Verdict::Send;
        }
        if self.networks.len() >= MAX_NETWORKS {
            let rate = self.rate;
            // Networks whose bucket has refilled are as good as new.
            self.networks
                .retain(|_, b| now.saturating_duration_since(b.at).as_secs_f64() * rate < rate);
            if self.networks.len() >= MAX_NETWORKS {
                self.networks.clear();
            }
        }
        let rate = self.rate;
        let bucket = self.networks.entry(network(client)).or_insert(Bucket {
            tokens: rate,
            at: now,
            limited: 0,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        // A second's worth at most: a burst up to the rate, no more.
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Verdict::Send;
        }
        bucket.limited += 1;
        if bucket.limited % 2 == 1 {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

/// The client's network: the first 3 bytes of IPv4, the first 7 of IPv6.
fn network(ip: IpAddr) -> [u8; 8] {
    let mut key = [0u8; 8];
    match ip {
        IpAddr::V4(v4) => {
            key[0] = 4;
            key[1..4].copy_from_slice(&v4.octets()[..3]);
        }
        IpAddr::V6(v6) => {
            key[0] = 6;
            key[1..8].copy_from_slice(&v6.octets()[..7]);
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_network_gets_its_rate_then_slips_and_drops_and_refills() {
        let t0 = Instant::now();
        let mut rrl = RateLimiter::new(5);
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let same_net: IpAddr = "192.0.2.200".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..5 {
            assert_eq!(rrl.check(a, t0), Verdict::Send);
        }
        assert_eq!(
            rrl.check(same_net, t0),
            Verdict::Slip,
            "the same /24 shares the budget"
        );
        assert_eq!(rrl.check(a, t0), Verdict::Drop);
        assert_eq!(rrl.check(a, t0), Verdict::Slip);
        assert_eq!(
            rrl.check(other, t0),
            Verdict::Send,
            "another network has its own"
        );
        // A second later the budget is back, no more than one second's worth.
        let later = t0 + Duration::from_secs(10);
        for _ in 0..5 {
            assert_eq!(rrl.check(a, later), Verdict::Send);
        }
        assert_ne!(rrl.check(a, later), Verdict::Send);
    }

    #[test]
    fn zero_turns_it_off_and_the_table_stays_bounded() {
        let t0 = Instant::now();
        let mut off = RateLimiter::new(0);
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        assert!((0..1000).all(|_| off.check(a, t0) == Verdict::Send));
        let mut rrl = RateLimiter::new(1);
        for i in 0..(MAX_NETWORKS as u32 + 10) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(i << 8));
            rrl.check(ip, t0);
        }
        assert!(rrl.networks.len() <= MAX_NETWORKS);
    }
}
