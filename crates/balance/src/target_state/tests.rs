//! A target's shared state: checks, in-flight guards, health writes, ejections.

use std::time::Duration;

use super::*;

#[test]
fn remembers_the_last_check() {
    let s = TargetState::new(HealthState::Initial, HealthReason::InitialHealthChecking);
    assert_eq!(s.last_check(), None);
    let at = Instant::now();
    s.record_check(at, true);
    let (when, passed) = s.last_check().unwrap();
    assert!(passed);
    assert!(when <= at && at - when < std::time::Duration::from_millis(2));
    s.record_check(at, false);
    assert!(!s.last_check().unwrap().1);
    assert_eq!(s.checks(), (1, 1));
}

#[test]
fn in_flight_follows_guards() {
    let state = Arc::new(TargetState::new(HealthState::Healthy, HealthReason::None));
    let a = state.begin_request();
    let b = state.begin_request();
    assert_eq!(state.in_flight(), 2);
    drop(a);
    assert_eq!(state.in_flight(), 1);
    drop(b);
    assert_eq!(state.in_flight(), 0);
    assert_eq!(state.requests(), 2);
}

#[test]
fn transitions_are_counted_only_on_change() {
    let state = TargetState::new(HealthState::Initial, HealthReason::InitialHealthChecking);
    assert!(state
        .set_state(
            HealthState::Initial,
            HealthReason::InitialHealthChecking,
            Instant::now()
        )
        .is_none());
    let t = state
        .set_state(HealthState::Healthy, HealthReason::None, Instant::now())
        .unwrap();
    assert_eq!((t.from, t.to), (HealthState::Initial, HealthState::Healthy));
    assert_eq!(state.transitions(), 1);
}

#[test]
fn a_conditional_write_loses_to_any_write_since_its_stamp() {
    let state = TargetState::new(HealthState::Healthy, HealthReason::None);
    let seen = state.stamp();
    // Draining lands while a checker decides "unhealthy" from what it saw.
    state.set_state(
        HealthState::Draining,
        HealthReason::DeregistrationInProgress,
        Instant::now(),
    );
    assert!(state
        .set_state_if_unchanged(
            seen,
            HealthState::Unhealthy,
            HealthReason::Timeout,
            Instant::now()
        )
        .is_none());
    assert_eq!(state.state(), HealthState::Draining);
    // Even a write that keeps the state invalidates older stamps.
    let seen = state.stamp();
    state.set_state(
        HealthState::Draining,
        HealthReason::DeregistrationInProgress,
        Instant::now(),
    );
    assert!(state
        .set_state_if_unchanged(
            seen,
            HealthState::Healthy,
            HealthReason::None,
            Instant::now()
        )
        .is_none());
    let seen = state.stamp();
    let t = state
        .set_state_if_unchanged(
            seen,
            HealthState::Healthy,
            HealthReason::None,
            Instant::now(),
        )
        .unwrap();
    assert_eq!(
        (t.from, t.to),
        (HealthState::Draining, HealthState::Healthy)
    );
    assert_eq!(state.reason(), HealthReason::None);
}

#[test]
fn ejection_takes_a_target_out_until_its_time_is_over() {
    let state = TargetState::new(HealthState::Healthy, HealthReason::None);
    let now = Instant::now();
    assert!(state.is_eligible(now));
    state.eject(now, Duration::from_secs(30));
    assert!(!state.is_eligible(now + Duration::from_secs(29)));
    assert!(state.is_eligible(now + Duration::from_secs(30)));
    assert!(!state.end_ejection_if_over(now + Duration::from_secs(10)));
    assert!(state.end_ejection_if_over(now + Duration::from_secs(31)));
    assert_eq!(state.ejections(), 1);
}
