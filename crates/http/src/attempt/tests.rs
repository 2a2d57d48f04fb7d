//! The attempt phase's rules, table-driven, without sockets.

use super::*;
use crate::decide::Forwarding;
use crate::fault::ConnectError;
use crate::testing::group;
use ballast_balance::Algorithm;

fn forwarding(n: u16) -> Forwarding {
    Forwarding {
        group: group("app", n, Algorithm::RoundRobin),
        weighted: false,
        group_cookie: None,
        key: None,
        stuck: false,
        target: Some(0),
    }
}

fn refused() -> Fault {
    Fault::Connect(ConnectError::Io(
        std::io::ErrorKind::ConnectionRefused.into(),
    ))
}

#[test]
fn a_refused_connect_goes_once_to_another_target() {
    let forward = forwarding(3);
    let mut attempts = Attempts::new(&forward, false);
    let first = attempts.next(Instant::now(), 0).unwrap();
    assert_eq!(first.index, 0);
    assert!(
        attempts
            .failed(first, refused(), true, true, true)
            .is_none(),
        "retried"
    );
    let second = attempts.next(Instant::now(), 1).unwrap();
    assert_ne!(second.index, 0, "never the target that just failed");
    let (fault, _) = attempts
        .failed(second, refused(), true, true, true)
        .expect("only one retry");
    assert_eq!(fault.reason(), "Target.ConnectionRefused");
}

#[test]
fn retry_rules_per_fault() {
    let closed = || Fault::TargetClosed(None);
    // (fault, request still whole, idempotent and bodiless, retried?)
    let table: Vec<(Fault, bool, bool, bool)> = vec![
        (refused(), true, false, true),
        (refused(), false, false, false),
        (Fault::Connect(ConnectError::Timeout), true, false, true),
        (
            Fault::Connect(ConnectError::Exhausted(None)),
            true,
            true,
            false,
        ),
        (closed(), false, true, true),
        (closed(), false, false, false),
        (Fault::ResponseTimeout, false, true, false),
        (
            Fault::InvalidResponse(crate::codec::ResponseError::TooLarge),
            false,
            true,
            false,
        ),
    ];
    for (fault, unsent, replayable, retried) in table {
        let forward = forwarding(2);
        let mut attempts = Attempts::new(&forward, replayable);
        let tried = attempts.next(Instant::now(), 0).unwrap();
        let name = fault.reason();
        let answer = attempts.failed(tried, fault, unsent, true, true);
        assert_eq!(
            answer.is_none(),
            retried,
            "{name} unsent={unsent} replayable={replayable}"
        );
    }
}

#[test]
fn a_target_that_closed_after_part_of_an_answer_is_not_replayed_elsewhere() {
    let forward = forwarding(2);
    let mut attempts = Attempts::new(&forward, true);
    let tried = attempts.next(Instant::now(), 0).unwrap();
    let answer = attempts.failed(tried, Fault::TargetClosed(None), false, true, false);
    assert!(
        answer.is_some(),
        "half an answer, then a close: not retried"
    );
}

#[test]
fn a_single_target_group_never_replays() {
    let forward = forwarding(1);
    let mut attempts = Attempts::new(&forward, true);
    let tried = attempts.next(Instant::now(), 0).unwrap();
    assert!(attempts
        .failed(tried, Fault::TargetClosed(None), false, true, true)
        .is_some());
}

#[test]
fn failures_count_against_the_target_only_when_it_is_to_blame() {
    let forward = forwarding(2);
    let target = Arc::clone(&forward.group.targets[0]);
    let mut attempts = Attempts::new(&forward, false);
    let tried = attempts.next(Instant::now(), 0).unwrap();
    attempts.failed(
        tried,
        Fault::Connect(ConnectError::Exhausted(None)),
        true,
        true,
        true,
    );
    assert_eq!(
        target.state.consecutive_failures(),
        0,
        "Ballast's own exhaustion"
    );
    let mut attempts = Attempts::new(&forward, false);
    let tried = attempts.next(Instant::now(), 0).unwrap();
    attempts.failed(tried, Fault::TargetClosed(None), false, false, true);
    assert_eq!(
        target.state.consecutive_failures(),
        0,
        "closed on a client still uploading"
    );
    let mut attempts = Attempts::new(&forward, false);
    let tried = attempts.next(Instant::now(), 0).unwrap();
    attempts.failed(tried, Fault::ResponseTimeout, false, true, true);
    assert_eq!(target.state.consecutive_failures(), 1);
}

#[test]
fn no_target_tells_empty_groups_from_unhealthy_ones() {
    let mut forward = forwarding(2);
    forward.target = None;
    for t in &forward.group.targets {
        t.state.set_state(
            ballast_balance::HealthState::Unhealthy,
            ballast_balance::HealthReason::FailedHealthChecks,
            Instant::now(),
        );
    }
    let mut attempts = Attempts::new(&forward, false);
    let (fault, _) = attempts.next(Instant::now(), 0).unwrap_err();
    assert_eq!(fault.reason(), "Group.NoHealthyTarget");
    let mut empty = forwarding(0);
    empty.target = None;
    let mut attempts = Attempts::new(&empty, false);
    let (fault, _) = attempts.next(Instant::now(), 0).unwrap_err();
    assert_eq!(fault.reason(), "Group.NoTarget");
}

/// One request whose first try fails with `fault` before anything was sent: whether its
/// retry may go, or the fault and target it is answered with.
fn retry_after(
    forward: &Forwarding,
    fault: Fault,
    now: Instant,
) -> Result<(), (Fault, Option<Arc<Target>>)> {
    let mut attempts = Attempts::new(forward, false);
    let first = attempts.next(now, 0).unwrap();
    assert!(attempts.failed(first, fault, true, true, true).is_none());
    attempts.next(now, 1).map(drop)
}

#[test]
fn budgeted_retries_are_bounded_by_the_budget_and_free_ones_are_not() {
    // The test group's budget: 10 retries to start with, plus 20% of the requests (a
    // deposit at each first try), all within one second here so nothing is refilled.
    let forward = forwarding(3);
    let now = Instant::now();
    let timeout = || Fault::Connect(ConnectError::Timeout);
    let mut retried = Vec::new();
    for _ in 0..50 {
        match retry_after(&forward, timeout(), now) {
            Ok(()) => retried.push(true),
            Err((fault, target)) => {
                assert_eq!(fault.reason(), "Target.ConnectTimeout", "the first failure");
                assert!(target.is_some());
                retried.push(false);
            }
        }
    }
    let total = retried.iter().filter(|r| **r).count();
    assert!(
        retried[..10].iter().all(|r| *r),
        "the first 10 spend the start"
    );
    assert!(
        (18..=21).contains(&total),
        "{total} budgeted retries for 50 requests"
    );
    let late = retried[30..].iter().filter(|r| **r).count();
    assert!(
        late <= 5,
        "{late} retries in the last 20 requests: more than 20%"
    );
    // A refused connect did no work on the target: its retry is free, budget or not. Spend
    // the budget (a first try deposits 0.2 of a retry), then refuse.
    let spent = (0..10).any(|_| retry_after(&forward, timeout(), now).is_err());
    assert!(spent);
    assert!(
        retry_after(&forward, refused(), now).is_ok(),
        "a free retry was denied"
    );
}
