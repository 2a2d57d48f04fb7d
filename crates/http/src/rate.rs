//! Request rate limits (`[rate_limits.NAME]`): token buckets per key (the client's address,
//! a header, a cookie, the path, the host, the method, or several together), one per second
//! with a burst and one per minute, in fixed tables of atomics
//! ([`ballast_l4::admission::BucketTable`]): memory stays the same under millions of
//! distinct keys, and no lock is taken per request. A request over the limit is answered
//! `429 Too Many Requests` with `Retry-After`.

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use ballast_config::{Cidr, RateKey, RateLimitConfig};
use ballast_l4::admission::{Bucket, BucketTable, ClientKey};

use crate::affinity::cookie_values;
use crate::head::{host_of, RequestFacts};
use crate::route::client_ip;

/// The live state of one `[rate_limits]` entry, shared by every listener and rule naming
/// it, and carried across reloads while its settings stay the same.
#[derive(Debug)]
pub struct RateLimiter {
    /// Its settings.
    pub config: Arc<RateLimitConfig>,
    /// Made at the first request counted, so an entry nothing names costs nothing.
    second: std::sync::OnceLock<BucketTable>,
    minute: std::sync::OnceLock<BucketTable>,
    /// Keyed with a random secret, so nobody can aim a key at another's slots.
    hasher: std::hash::RandomState,
}

impl RateLimiter {
    /// Every bucket full.
    pub fn new(config: Arc<RateLimitConfig>) -> Self {
        Self {
            second: std::sync::OnceLock::new(),
            minute: std::sync::OnceLock::new(),
            config,
            hasher: std::hash::RandomState::new(),
        }
    }

    /// Counts a request; `Err(seconds)` (its `Retry-After`) when it is over the limit. A
    /// request that lacks a part of the key (no such header or cookie) is not counted, as
    /// AWS WAF's rate-based rules do.
    pub(crate) fn check(
        &self,
        req: &dyn RequestFacts,
        peer: IpAddr,
        trusted: &[Cidr],
        clock: impl Fn() -> Instant + Copy,
    ) -> Result<(), u32> {
        let Some(hash) = self.key_hash(req, peer, trusted) else {
            return Ok(());
        };
        let key = ClientKey::of_hash(hash);
        if let Some(rate) = self.config.per_second {
            let bucket = Bucket::per_second(rate);
            let table = self.second.get_or_init(BucketTable::new);
            if !table.try_take(key, bucket, clock) {
                return Err(bucket.refill_seconds());
            }
        }
        if let Some(per_minute) = self.config.per_minute {
            let bucket = Bucket::per_minute(per_minute);
            let table = self.minute.get_or_init(BucketTable::new);
            if !table.try_take(key, bucket, clock) {
                return Err(bucket.refill_seconds());
            }
        }
        Ok(())
    }

    fn key_hash(&self, req: &dyn RequestFacts, peer: IpAddr, trusted: &[Cidr]) -> Option<u64> {
        let mut h = self.hasher.build_hasher();
        for part in &self.config.key {
            match part {
                RateKey::ClientIp => {
                    // A chain that does not parse counts as the peer's own.
                    let ip = client_ip(peer, trusted, req).unwrap_or(peer);
                    h.write_u8(1);
                    match ip {
                        IpAddr::V4(v4) => h.write(&v4.octets()),
                        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                            Some(v4) => h.write(&v4.octets()),
                            // The /64, the block one host is given: hopping between its
                            // addresses does not escape the limit.
                            None => h.write(&v6.octets()[..8]),
                        },
                    }
                }
                RateKey::Header(name) => {
                    h.write_u8(2);
                    h.write(req.first_field(name)?);
                }
                RateKey::Cookie(name) => {
                    let mut found = None;
                    req.any_field("cookie", &mut |v| {
                        found = cookie_values(v, name.as_bytes()).next();
                        found.is_some()
                    });
                    h.write_u8(3);
                    h.write(found?);
                }
                RateKey::Path => {
                    h.write_u8(4);
                    h.write(req.path());
                }
                RateKey::Host => {
                    h.write_u8(5);
                    h.write(&host_of(req.authority()).to_ascii_lowercase());
                }
                RateKey::Method => {
                    h.write_u8(6);
                    h.write(req.method().as_bytes());
                }
            }
            // Parts are delimited, so ("ab", "c") and ("a", "bc") differ.
            h.write_u8(0xff);
        }
        Some(h.finish())
    }
}

/// Whether a request on `routes` whose rule has `rule_limit` goes over a rate limit: the
/// listener's, then the rule's. `Some`: the 429 to answer (counted, and noted in the
/// exchange for the access log).
pub(crate) fn limited(
    routes: &crate::snapshot::ListenerRoutes,
    rule_limit: Option<&RateLimiter>,
    (req, peer): (&dyn RequestFacts, IpAddr),
    exchange: &mut crate::exchange::Exchange,
) -> Option<crate::local::Local> {
    let listener = routes.rate_limit.as_deref();
    // A limit named by both the listener and the rule is counted once.
    let rule = rule_limit.filter(|r| !listener.is_some_and(|l| std::ptr::eq(*r, l)));
    let over = [listener, rule].into_iter().flatten().find_map(|l| {
        l.check(req, peer, &routes.trusted_proxies, Instant::now)
            .err()
    })?;
    if let Some(m) = &routes.metrics {
        m.limit_hit(ballast_telemetry::metrics::Limit::RateLimit);
    }
    exchange.action = crate::exchange::ActionKind::RateLimited;
    exchange.error_reason = Some("Client.RateLimited");
    Some(crate::local::Local::too_many(over))
}

/// The limiters of `config`, reusing those of `previous` whose settings did not change
/// (a reload keeps their counts).
pub fn carry_limiters(
    config: &[Arc<RateLimitConfig>],
    previous: &[Arc<RateLimiter>],
) -> Vec<Arc<RateLimiter>> {
    config
        .iter()
        .map(|c| {
            previous
                .iter()
                .find(|p| *p.config == **c)
                .map_or_else(|| Arc::new(RateLimiter::new(Arc::clone(c))), Arc::clone)
        })
        .collect()
}

/// The limiter named `name` among `all`.
pub fn limiter_named(all: &[Arc<RateLimiter>], name: &str) -> Option<Arc<RateLimiter>> {
    all.iter().find(|l| &*l.config.name == name).cloned()
}

#[cfg(test)]
mod tests;
