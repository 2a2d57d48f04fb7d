//! Outlier detection, case by case (the simulation in `sim.rs` covers random histories).

use super::*;
use ballast_balance::HealthReason;

fn config() -> OutlierDetectionConfig {
    OutlierDetectionConfig {
        enabled: true,
        consecutive_failures: 3,
        base_ejection_time: Duration::from_secs(10),
        max_ejection_time: Duration::from_secs(25),
        max_ejection_percent: 50,
    }
}

fn targets(n: usize) -> Vec<(SocketAddr, TargetState)> {
    (0..n)
        .map(|i| {
            let addr: SocketAddr = format!("127.0.0.1:{}", 1000 + i).parse().unwrap();
            (
                addr,
                TargetState::new(HealthState::Healthy, HealthReason::None),
            )
        })
        .collect()
}

fn view(t: &[(SocketAddr, TargetState)]) -> Vec<(SocketAddr, &TargetState)> {
    t.iter().map(|(a, s)| (*a, s)).collect()
}

fn fail(state: &TargetState, n: u32) {
    for _ in 0..n {
        state.record_outcome(false);
    }
}

#[test]
fn consecutive_failures_eject_and_the_target_returns_after_its_time() {
    let t = targets(4);
    let mut d = OutlierDetector::new(config());
    let now = Instant::now();
    fail(&t[0].1, 2);
    assert!(
        d.evaluate(&view(&t), now).is_empty(),
        "two failures are not enough"
    );
    t[0].1.record_outcome(true);
    fail(&t[0].1, 3);
    let events = d.evaluate(&view(&t), now);
    assert_eq!(
        events,
        vec![OutlierEvent::Ejected {
            address: t[0].0,
            duration: Duration::from_secs(10),
            count: 1
        }]
    );
    assert!(!t[0].1.is_eligible(now + Duration::from_secs(9)));
    let later = now + Duration::from_secs(10);
    assert_eq!(
        d.evaluate(&view(&t), later),
        vec![OutlierEvent::Returned { address: t[0].0 }]
    );
    assert!(t[0].1.is_eligible(later));
}

#[test]
fn repeated_ejections_grow_up_to_the_cap_and_are_forgiven_after_a_quiet_while() {
    let t = targets(2);
    let mut d = OutlierDetector::new(config());
    let mut now = Instant::now();
    let mut durations = Vec::new();
    for _ in 0..3 {
        fail(&t[0].1, 3);
        for e in d.evaluate(&view(&t), now) {
            if let OutlierEvent::Ejected { duration, .. } = e {
                durations.push(duration);
            }
        }
        now += Duration::from_secs(30);
        d.evaluate(&view(&t), now);
    }
    assert_eq!(durations, [10, 20, 25].map(Duration::from_secs));
    // Back and quiet for a base ejection time: the next ejection starts small again.
    now += Duration::from_secs(10);
    d.evaluate(&view(&t), now);
    fail(&t[0].1, 3);
    let events = d.evaluate(&view(&t), now);
    assert!(
        matches!(events[0], OutlierEvent::Ejected { count: 1, .. }),
        "{events:?}"
    );
}

#[test]
fn at_most_the_allowed_share_is_ejected_and_always_at_least_one() {
    let t = targets(4);
    let mut d = OutlierDetector::new(config());
    let now = Instant::now();
    for (_, s) in &t {
        fail(s, 5);
    }
    let ejected = d.evaluate(&view(&t), now).len();
    assert_eq!(ejected, 2, "50 % of 4");
    let one = targets(1);
    fail(&one[0].1, 3);
    assert_eq!(
        OutlierDetector::new(config())
            .evaluate(&view(&one), now)
            .len(),
        1
    );
}

#[test]
fn failures_of_requests_in_flight_during_an_ejection_do_not_eject_again() {
    let t = targets(2);
    let mut d = OutlierDetector::new(config());
    let now = Instant::now();
    fail(&t[0].1, 3);
    assert_eq!(d.evaluate(&view(&t), now).len(), 1);
    // Requests that were already running when it was ejected time out meanwhile.
    fail(&t[0].1, 5);
    let back = now + Duration::from_secs(10);
    assert_eq!(
        d.evaluate(&view(&t), back),
        vec![OutlierEvent::Returned { address: t[0].0 }]
    );
    assert!(t[0].1.is_eligible(back));
}

#[test]
fn only_targets_that_take_traffic_use_up_ejection_slots() {
    let t = targets(2);
    t[0].1.set_state(
        HealthState::Unhealthy,
        HealthReason::Timeout,
        Instant::now(),
    );
    let mut d = OutlierDetector::new(config());
    fail(&t[0].1, 5);
    fail(&t[1].1, 5);
    let events = d.evaluate(&view(&t), Instant::now());
    assert_eq!(
        events,
        vec![OutlierEvent::Ejected {
            address: t[1].0,
            duration: Duration::from_secs(10),
            count: 1
        }]
    );
}

#[test]
fn disabled_detection_never_ejects() {
    let t = targets(2);
    let mut d = OutlierDetector::new(OutlierDetectionConfig {
        enabled: false,
        ..config()
    });
    fail(&t[0].1, 10);
    assert!(d.evaluate(&view(&t), Instant::now()).is_empty());
}

#[test]
fn failures_counted_during_an_ejection_lifted_by_health_checks_do_not_eject_again() {
    let t = targets(2);
    let mut d = OutlierDetector::new(config());
    let now = Instant::now();
    fail(&t[0].1, 3);
    assert_eq!(d.evaluate(&view(&t), now).len(), 1);
    // In flight when it was ejected, these fail; then its checks fail and pass again.
    fail(&t[0].1, 5);
    let later = now + Duration::from_secs(4);
    t[0].1
        .set_state(HealthState::Unhealthy, HealthReason::Timeout, later);
    t[0].1
        .set_state(HealthState::Healthy, HealthReason::None, later);
    assert!(t[0].1.lift_ejection(later));
    assert!(
        d.evaluate(&view(&t), later + Duration::from_millis(100))
            .is_empty(),
        "ejected again for what it did while it was out"
    );
    assert!(t[0].1.is_eligible(later + Duration::from_millis(100)));
}

#[test]
fn a_target_whose_ejection_was_lifted_is_forgiven_after_a_quiet_while_too() {
    let t = targets(2);
    let mut d = OutlierDetector::new(config());
    let now = Instant::now();
    fail(&t[0].1, 3);
    assert_eq!(d.evaluate(&view(&t), now).len(), 1);
    // Its checks fail, then pass: the checker lifts the ejection after 2 s of 10.
    let lifted = now + Duration::from_secs(2);
    t[0].1
        .set_state(HealthState::Unhealthy, HealthReason::Timeout, lifted);
    t[0].1
        .set_state(HealthState::Healthy, HealthReason::None, lifted);
    assert!(t[0].1.lift_ejection(lifted));
    let mut at = lifted;
    while at < lifted + Duration::from_secs(11) {
        at += Duration::from_millis(100);
        assert!(d.evaluate(&view(&t), at).is_empty());
    }
    // Back and quiet for more than a base ejection time: the next ejection starts small.
    fail(&t[0].1, 3);
    assert_eq!(
        d.evaluate(&view(&t), at),
        vec![OutlierEvent::Ejected {
            address: t[0].0,
            duration: Duration::from_secs(10),
            count: 1
        }]
    );
}
