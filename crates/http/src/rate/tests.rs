use std::sync::Arc;
use std::time::{Duration, Instant};

use ballast_config::{Rate, RateKey, RateLimitConfig};

use super::*;

fn parts(path: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().uri(format!("http://example.com{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn limiter(key: Vec<RateKey>, per_second: Option<Rate>, per_minute: Option<u32>) -> RateLimiter {
    RateLimiter::new(Arc::new(RateLimitConfig {
        name: Arc::from("r"),
        key,
        per_second,
        per_minute,
    }))
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn each_client_has_its_own_burst_and_rate() {
    let l = limiter(
        vec![RateKey::ClientIp],
        Some(Rate {
            per_second: 2,
            burst: 3,
        }),
        None,
    );
    let req = parts("/", &[]);
    let t0 = Instant::now();
    let a: Vec<_> = (0..5)
        .map(|_| l.check(&req, ip("192.0.2.1"), &[], move || t0))
        .collect();
    assert_eq!(a, [Ok(()), Ok(()), Ok(()), Err(1), Err(1)]);
    assert_eq!(l.check(&req, ip("192.0.2.2"), &[], move || t0), Ok(()));
    // Half a second at two a second is one more (a few ms more: a refill rounds the time it uses up).
    let t1 = t0 + Duration::from_millis(505);
    assert_eq!(l.check(&req, ip("192.0.2.1"), &[], move || t1), Ok(()));
    assert_eq!(l.check(&req, ip("192.0.2.1"), &[], move || t1), Err(1));
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_client_is_counted() {
    let l = limiter(
        vec![RateKey::ClientIp],
        Some(Rate {
            per_second: 1,
            burst: 1,
        }),
        None,
    );
    let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
    let proxy = ip("10.0.0.1");
    let t0 = Instant::now();
    let from = |client: &str| parts("/", &[("x-forwarded-for", client)]);
    assert_eq!(
        l.check(&from("198.51.100.1"), proxy, &trusted, move || t0),
        Ok(())
    );
    assert_eq!(
        l.check(&from("198.51.100.2"), proxy, &trusted, move || t0),
        Ok(())
    );
    assert_eq!(
        l.check(&from("198.51.100.1"), proxy, &trusted, move || t0),
        Err(1)
    );
}

#[test]
fn header_cookie_and_path_keys_and_missing_parts() {
    let l = limiter(
        vec![RateKey::Header("x-api-key".into()), RateKey::Path],
        None,
        Some(2),
    );
    let t0 = Instant::now();
    let peer = ip("192.0.2.9");
    let key_a = parts("/x", &[("x-api-key", "a")]);
    assert_eq!(l.check(&key_a, peer, &[], move || t0), Ok(()));
    assert_eq!(l.check(&key_a, peer, &[], move || t0), Ok(()));
    // A minute's worth is spent: one more comes in 30 s.
    assert_eq!(l.check(&key_a, peer, &[], move || t0), Err(30));
    assert_eq!(
        l.check(&parts("/y", &[("x-api-key", "a")]), peer, &[], move || t0),
        Ok(())
    );
    assert_eq!(
        l.check(&parts("/x", &[("x-api-key", "b")]), peer, &[], move || t0),
        Ok(())
    );
    // No key header: not counted at all.
    for _ in 0..10 {
        assert_eq!(l.check(&parts("/x", &[]), peer, &[], move || t0), Ok(()));
    }
    let c = limiter(
        vec![RateKey::Cookie("sid".into())],
        Some(Rate {
            per_second: 1,
            burst: 1,
        }),
        None,
    );
    let with = |v: &str| parts("/", &[("cookie", v)]);
    assert_eq!(c.check(&with("a=1; sid=s1"), peer, &[], move || t0), Ok(()));
    assert_eq!(c.check(&with("sid=s1"), peer, &[], move || t0), Err(1));
    assert_eq!(c.check(&with("sid=s2"), peer, &[], move || t0), Ok(()));
}

#[test]
fn both_buckets_must_allow() {
    let l = limiter(
        vec![RateKey::ClientIp],
        Some(Rate {
            per_second: 100,
            burst: 100,
        }),
        Some(3),
    );
    let req = parts("/", &[]);
    let t0 = Instant::now();
    let peer = ip("203.0.113.5");
    assert_eq!(
        (0..3)
            .filter(|_| l.check(&req, peer, &[], move || t0).is_ok())
            .count(),
        3
    );
    assert_eq!(
        l.check(&req, peer, &[], move || t0 + Duration::from_secs(1)),
        Err(20)
    );
}

#[test]
fn reloads_keep_unchanged_limiters() {
    let config = |n: u32| {
        Arc::new(RateLimitConfig {
            name: Arc::from("r"),
            key: vec![RateKey::ClientIp],
            per_second: Some(Rate {
                per_second: n,
                burst: n,
            }),
            per_minute: None,
        })
    };
    let first = carry_limiters(&[config(1)], &[]);
    let same = carry_limiters(&[config(1)], &first);
    assert!(Arc::ptr_eq(&first[0], &same[0]));
    let changed = carry_limiters(&[config(2)], &same);
    assert!(!Arc::ptr_eq(&same[0], &changed[0]));
    assert!(limiter_named(&changed, "r").is_some() && limiter_named(&changed, "x").is_none());
}
