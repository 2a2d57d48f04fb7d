use super::*;
use proptest::prelude::*;
use std::time::Duration;

fn states(spec: &[HealthState]) -> Vec<TargetState> {
    spec.iter()
        .map(|s| TargetState::new(*s, HealthReason::None))
        .collect()
}

fn input(fail_open: bool) -> PickInput {
    PickInput {
        now: Instant::now(),
        fail_open,
        exclude: None,
    }
}

#[test]
fn skips_ineligible_targets_and_spreads_evenly_over_the_rest() {
    use HealthState::*;
    let targets = states(&[Healthy, Unhealthy, Healthy, Draining, Initial, Healthy]);
    let balancer = Balancer::from_algorithm(Algorithm::RoundRobin);
    let mut counts = [0usize; 6];
    for _ in 0..300 {
        counts[balancer.pick(&targets, |t| t, &input(true)).unwrap()] += 1;
    }
    assert_eq!(counts, [100, 0, 100, 0, 0, 100]);
}

#[test]
fn ejected_targets_are_skipped_until_their_time_is_over() {
    let targets = states(&[HealthState::Healthy, HealthState::Healthy]);
    let now = Instant::now();
    targets[0].eject(now, Duration::from_secs(10));
    let balancer = Balancer::from_algorithm(Algorithm::RoundRobin);
    let at = |now| PickInput {
        now,
        fail_open: true,
        exclude: None,
    };
    for _ in 0..10 {
        assert_eq!(balancer.pick(&targets, |t| t, &at(now)), Some(1));
    }
    let picks: Vec<_> = (0..4)
        .map(|_| {
            balancer
                .pick(&targets, |t| t, &at(now + Duration::from_secs(11)))
                .unwrap()
        })
        .collect();
    assert!(picks.contains(&0) && picks.contains(&1));
}

#[test]
fn fails_open_to_registered_targets_only_when_asked() {
    use HealthState::*;
    let targets = states(&[Unhealthy, Draining, Initial]);
    let balancer = Balancer::from_algorithm(Algorithm::RoundRobin);
    assert_eq!(balancer.pick(&targets, |t| t, &input(false)), None);
    let mut seen = [0usize; 3];
    for _ in 0..4 {
        seen[balancer.pick(&targets, |t| t, &input(true)).unwrap()] += 1;
    }
    assert_eq!(
        seen,
        [2, 0, 2],
        "never a draining target, even failing open"
    );
}

#[test]
fn exclude_moves_a_retry_to_another_target() {
    let targets = states(&[HealthState::Healthy, HealthState::Healthy]);
    let balancer = Balancer::from_algorithm(Algorithm::RoundRobin);
    for _ in 0..5 {
        let pick = PickInput {
            now: Instant::now(),
            fail_open: true,
            exclude: Some(0),
        };
        assert_eq!(balancer.pick(&targets, |t| t, &pick), Some(1));
    }
    let only = states(&[HealthState::Healthy]);
    let pick = PickInput {
        now: Instant::now(),
        fail_open: true,
        exclude: Some(0),
    };
    assert_eq!(balancer.pick(&only, |t| t, &pick), None);
}

fn any_state() -> impl Strategy<Value = HealthState> {
    prop_oneof![
        Just(HealthState::Initial),
        Just(HealthState::Healthy),
        Just(HealthState::Unhealthy),
        Just(HealthState::Draining),
        Just(HealthState::Unused),
    ]
}

proptest! {
    #[test]
    fn never_picks_an_ineligible_target_while_an_eligible_one_exists(
        spec in proptest::collection::vec(any_state(), 1..20),
        fail_open in any::<bool>(),
        rounds in 1usize..50,
    ) {
        let targets = states(&spec);
        let balancer = Balancer::from_algorithm(Algorithm::RoundRobin);
        let any_eligible = spec.contains(&HealthState::Healthy);
        for _ in 0..rounds {
            match balancer.pick(&targets, |t| t, &input(fail_open)) {
                Some(i) if any_eligible => prop_assert_eq!(spec[i], HealthState::Healthy),
                Some(i) => {
                    prop_assert!(fail_open);
                    prop_assert!(!matches!(spec[i], HealthState::Draining | HealthState::Unused));
                }
                None => prop_assert!(!any_eligible && (!fail_open || spec.iter().all(|s| matches!(s, HealthState::Draining | HealthState::Unused)))),
            }
        }
    }
}

#[test]
fn a_retry_away_from_the_only_healthy_target_does_not_fail_open() {
    use HealthState::*;
    let targets = states(&[Healthy, Unhealthy]);
    let balancer = Balancer::from_algorithm(Algorithm::RoundRobin);
    let retry = PickInput {
        exclude: Some(0),
        ..input(true)
    };
    assert_eq!(balancer.pick(&targets, |t| t, &retry), None);
    // When the whole group is down, a retry may go to another registered target.
    let down = states(&[Unhealthy, Unhealthy]);
    assert_eq!(balancer.pick(&down, |t| t, &retry), Some(1));
}
