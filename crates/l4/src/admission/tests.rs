use std::net::IpAddr;
use std::time::{Duration, Instant};

use ballast_config::{Cidr, CidrSet, ClientLimits, EdgePolicy, Rate};
use proptest::prelude::*;

use super::*;
use crate::limits::ListenerConnections;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn open_connections_are_counted_per_client_and_given_back() {
    let table = ClientTable::new();
    let a = table.key(ip("192.0.2.1"));
    let b = table.key(ip("192.0.2.2"));
    assert!(table.try_open(a, Some(2)));
    assert!(table.try_open(a, Some(2)));
    assert!(!table.try_open(a, Some(2)));
    assert!(table.try_open(b, Some(2)), "another client is not limited");
    table.close(a);
    assert!(table.try_open(a, Some(2)));
    assert_eq!(table.open(a), 2);
    // Closing more than was opened never wraps below zero.
    for _ in 0..5 {
        table.close(b);
    }
    assert_eq!(table.open(b), 0);
}

#[test]
fn ipv6_clients_are_counted_by_their_64() {
    let table = ClientTable::new();
    assert_eq!(
        table.key(ip("2001:db8:1:2::1")),
        table.key(ip("2001:db8:1:2:ffff::9"))
    );
    assert_eq!(
        table.key(ip("::ffff:192.0.2.1")),
        table.key(ip("192.0.2.1"))
    );
}

#[test]
fn the_bucket_allows_the_burst_then_the_rate() {
    let table = ClientTable::new();
    let key = table.key(ip("198.51.100.4"));
    let rate = Rate {
        per_second: 10,
        burst: 3,
    };
    let t0 = Instant::now();
    let taken = (0..10)
        .filter(|_| table.try_take(key, rate, move || t0))
        .count();
    assert_eq!(taken, 3, "the burst, then nothing at the same instant");
    // 100 ms at 10 per second is one more.
    let t1 = t0 + Duration::from_millis(105);
    assert!(table.try_take(key, rate, move || t1));
    assert!(!table.try_take(key, rate, move || t1));
    // A long pause fills the bucket to its burst, not beyond.
    let t2 = t1 + Duration::from_secs(60);
    assert_eq!(
        (0..10)
            .filter(|_| table.try_take(key, rate, move || t2))
            .count(),
        3
    );
    let other = table.key(ip("198.51.100.5"));
    assert!(table.try_take(other, rate, move || t2));
}

#[test]
fn asked_every_millisecond_a_bucket_gives_its_whole_rate() {
    let key = ClientKey::of_hash(42);
    for (per_second, burst) in [(20, 20), (7, 1), (999, 5)] {
        let table = BucketTable::new();
        let bucket = Bucket::per_second(Rate { per_second, burst });
        let t0 = Instant::now();
        let admitted = (0..10_000u64)
            .filter(|ms| table.try_take(key, bucket, move || t0 + Duration::from_millis(*ms)))
            .count() as u32;
        let earned = burst + per_second * 10;
        // Within 0.2% (rounding never credits time twice) and never above.
        assert!(
            f64::from(admitted) >= f64::from(earned) * 0.998 - 1.0 && admitted <= earned + 1,
            "{admitted} of {earned}"
        );
    }
}

#[test]
fn a_slow_rate_still_adds_up() {
    let table = ClientTable::new();
    let key = table.key(ip("203.0.113.9"));
    let rate = Rate {
        per_second: 1,
        burst: 1,
    };
    let t0 = Instant::now();
    assert!(table.try_take(key, rate, move || t0));
    // Ten steps of 100 ms make one token, even though each adds a tenth.
    let mut t = t0;
    let mut taken = 0;
    for _ in 0..10 {
        t += Duration::from_millis(100);
        taken += usize::from(table.try_take(key, rate, move || t));
    }
    // Rounding never credits time twice, so the token may come one step late, not lost.
    t += Duration::from_millis(100);
    taken += usize::from(table.try_take(key, rate, move || t));
    assert_eq!(taken, 1, "a tenth at a time made one token");
    t += Duration::from_millis(1000);
    assert!(table.try_take(key, rate, move || t));
}

fn policy(allow: Option<&[&str]>, deny: &[&str], limits: ClientLimits) -> EdgePolicy {
    let set = |blocks: &[&str]| {
        let blocks: Vec<Cidr> = blocks.iter().map(|b| Cidr::parse(b).unwrap()).collect();
        CidrSet::new(&blocks)
    };
    EdgePolicy {
        allow: allow.map(set),
        deny: set(deny),
        client_limits: limits,
    }
}

#[test]
fn the_listener_admits_in_order_and_a_refusal_takes_nothing() {
    let conns = ListenerConnections::new();
    let limits = ClientLimits {
        max_connections: Some(1),
        connection_rate: Some(Rate {
            per_second: 1,
            burst: 2,
        }),
    };
    let p = policy(Some(&["10.0.0.0/8"]), &["10.9.0.0/16"], limits);
    assert_eq!(
        conns.admit_client(&p, ip("11.0.0.1"), None).err(),
        Some(Refused::Denied)
    );
    assert_eq!(
        conns.admit_client(&p, ip("10.9.0.1"), None).err(),
        Some(Refused::Denied)
    );
    let first = conns.admit_client(&p, ip("10.0.0.1"), None).unwrap();
    assert_eq!(
        conns.admit_client(&p, ip("10.0.0.1"), None).err(),
        Some(Refused::ClientConnections)
    );
    drop(first);
    assert_eq!(conns.open(), 0);
    // The refused attempt took no token: this one gets the second.
    let again = conns.admit_client(&p, ip("10.0.0.1"), None).unwrap();
    drop(again);
    assert_eq!(
        conns.admit_client(&p, ip("10.0.0.1"), None).err(),
        Some(Refused::ClientRate)
    );
    // The listener's own bound comes before any client count.
    let other = conns.admit_client(&p, ip("10.0.0.2"), Some(1)).unwrap();
    assert_eq!(
        conns.admit_client(&p, ip("10.0.0.3"), Some(1)).err(),
        Some(Refused::ListenerFull)
    );
    drop(other);
    assert_eq!(conns.open(), 0);
}

#[test]
fn an_open_policy_makes_no_table() {
    let conns = ListenerConnections::new();
    let slot = conns
        .admit_client(&EdgePolicy::default(), ip("192.0.2.1"), None)
        .unwrap();
    assert_eq!(conns.open(), 1);
    drop(slot);
    assert_eq!(conns.open(), 0);
}

proptest! {
    /// Asked at any pace, a bucket admits no more than its burst plus what its rate added.
    #[test]
    fn the_bucket_never_exceeds_its_rate(
        per_second in 1u32..5000,
        burst in 1u32..100,
        steps in proptest::collection::vec(0u64..5, 100..2000),
    ) {
        let table = BucketTable::new();
        let key = ClientKey::of_hash(7);
        let bucket = Bucket::per_second(Rate { per_second, burst });
        let t0 = Instant::now();
        let mut at = 0u64;
        let mut admitted = 0u64;
        for step in steps {
            at += step;
            admitted += u64::from(table.try_take(key, bucket, move || t0 + Duration::from_millis(at)));
        }
        let earned = f64::from(burst) + f64::from(per_second) * at as f64 / 1000.0;
        prop_assert!(admitted as f64 <= earned + 1.0, "{admitted} > {earned}");
    }

    /// However many other clients connect, a client with no connection open is never
    /// refused unless both of its slots are taken by others (checked against the sketch's
    /// own definition), and counts always return to zero.
    #[test]
    fn counts_return_to_zero(clients in proptest::collection::vec(any::<u32>(), 1..200)) {
        let table = ClientTable::new();
        let keys: Vec<ClientKey> = clients.iter().map(|c| table.key(IpAddr::V4((*c).into()))).collect();
        for &k in &keys {
            prop_assert!(table.try_open(k, None));
        }
        for &k in &keys {
            prop_assert!(table.open(k) >= 1);
            table.close(k);
        }
        for &k in &keys {
            prop_assert_eq!(table.open(k), 0);
        }
    }
}

/// Workers taking tokens for one key at once never refill it by racing: a time read before
/// another worker stored a later one must not look like a clock wrap (it did, and 8 threads
/// got thousands of tokens from a bucket of 10 a second).
#[test]
fn racing_workers_get_no_more_than_the_rate() {
    let table = std::sync::Arc::new(BucketTable::new());
    let key = ClientKey::of_hash(99);
    let bucket = Bucket::per_second(Rate {
        per_second: 10,
        burst: 10,
    });
    let started = Instant::now();
    let admitted: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let table = std::sync::Arc::clone(&table);
                scope.spawn(move || {
                    let mut got = 0u64;
                    for _ in 0..200_000 {
                        got += u64::from(table.try_take(key, bucket, Instant::now));
                        if started.elapsed() > Duration::from_millis(300) {
                            break;
                        }
                    }
                    got
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let earned = 10.0 + 10.0 * started.elapsed().as_secs_f64();
    assert!(
        admitted as f64 <= earned + 1.0,
        "{admitted} admitted, {earned} earned"
    );
}
