use super::*;
use proptest::prelude::*;
use std::time::Duration;

const ALL: [Algorithm; 8] = [
    Algorithm::RoundRobin,
    Algorithm::WeightedRandom,
    Algorithm::LeastOutstandingRequests,
    Algorithm::LeastConnections,
    Algorithm::LeastResponseTime,
    Algorithm::RandomTwoChoices,
    Algorithm::IpHash,
    Algorithm::ConsistentHash,
];

fn states(spec: &[HealthState]) -> Vec<Arc<TargetState>> {
    spec.iter()
        .map(|s| Arc::new(TargetState::new(*s, HealthReason::None)))
        .collect()
}

fn healthy(n: usize) -> Vec<Arc<TargetState>> {
    states(&vec![HealthState::Healthy; n])
}

fn input(fail_open: bool) -> PickInput {
    PickInput {
        now: Instant::now(),
        fail_open,
        exclude: None,
        random: 0,
        key: None,
    }
}

fn weighted(algorithm: Algorithm, weights: &[u32]) -> Balancer {
    let specs: Vec<TargetSpec> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| TargetSpec {
            weight: *w,
            local: true,
            id: stable_hash(format!("127.0.0.1:{}", 9000 + i).as_bytes()),
        })
        .collect();
    Balancer::build(algorithm, &specs, BalanceOptions::default(), None)
}

/// Picks `n` times with a seeded random number and a key per pick; counts per target.
fn spread(b: &Balancer, targets: &[Arc<TargetState>], n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng(seed);
    let mut counts = vec![0; targets.len()];
    for _ in 0..n {
        let pick = PickInput {
            random: rng.next(),
            key: Some(rng.next()),
            ..input(true)
        };
        counts[b.pick(targets, |t| t, &pick).unwrap()] += 1;
    }
    counts
}

/// A tiny deterministic generator for tests (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[test]
fn skips_ineligible_targets_and_spreads_evenly_over_the_rest() {
    use HealthState::*;
    let targets = states(&[Healthy, Unhealthy, Healthy, Draining, Initial, Healthy]);
    let balancer = Balancer::uniform(Algorithm::RoundRobin, 6);
    let mut counts = [0usize; 6];
    for _ in 0..300 {
        counts[balancer.pick(&targets, |t| t, &input(true)).unwrap()] += 1;
    }
    assert_eq!(counts, [100, 0, 100, 0, 0, 100]);
}

#[test]
fn ejected_targets_are_skipped_until_their_time_is_over() {
    let targets = healthy(2);
    let now = Instant::now();
    targets[0].eject(now, Duration::from_secs(10));
    let balancer = Balancer::uniform(Algorithm::RoundRobin, 2);
    let at = |now| PickInput { now, ..input(true) };
    for _ in 0..10 {
        assert_eq!(balancer.pick(&targets, |t| t, &at(now)), Some(1));
    }
    let later = now + Duration::from_secs(11);
    let picks: Vec<_> = (0..4)
        .map(|_| balancer.pick(&targets, |t| t, &at(later)).unwrap())
        .collect();
    assert!(picks.contains(&0) && picks.contains(&1));
}

#[test]
fn fails_open_to_registered_targets_only_when_asked() {
    use HealthState::*;
    let targets = states(&[Unhealthy, Draining, Initial]);
    let balancer = Balancer::uniform(Algorithm::RoundRobin, 3);
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
    let targets = healthy(2);
    let balancer = Balancer::uniform(Algorithm::RoundRobin, 2);
    let retry = PickInput {
        exclude: Some(0),
        ..input(true)
    };
    for _ in 0..5 {
        assert_eq!(balancer.pick(&targets, |t| t, &retry), Some(1));
    }
    let only = healthy(1);
    assert_eq!(
        Balancer::uniform(Algorithm::RoundRobin, 1).pick(&only, |t| t, &retry),
        None
    );
}

#[test]
fn a_retry_away_from_the_only_healthy_target_does_not_fail_open() {
    use HealthState::*;
    let targets = states(&[Healthy, Unhealthy]);
    let balancer = Balancer::uniform(Algorithm::RoundRobin, 2);
    let retry = PickInput {
        exclude: Some(0),
        ..input(true)
    };
    assert_eq!(balancer.pick(&targets, |t| t, &retry), None);
    // When the whole group is down, a retry may go to another registered target.
    let down = states(&[Unhealthy, Unhealthy]);
    assert_eq!(balancer.pick(&down, |t| t, &retry), Some(1));
}

#[test]
fn round_robin_interleaves_weights_smoothly_and_exactly() {
    let targets = healthy(3);
    let balancer = weighted(Algorithm::RoundRobin, &[5, 1, 1]);
    let picks: Vec<usize> = (0..700)
        .map(|_| balancer.pick(&targets, |t| t, &input(true)).unwrap())
        .collect();
    assert_eq!(&picks[..7], &[0, 0, 0, 1, 0, 2, 0]);
    let mut counts = [0; 3];
    picks.iter().for_each(|&i| counts[i] += 1);
    assert_eq!(counts, [500, 100, 100]);
    let longest_run = picks
        .chunk_by(|a, b| a == b)
        .map(<[usize]>::len)
        .max()
        .unwrap();
    // Five of every seven go to the first target: across cycle boundaries a run of four is
    // unavoidable with this order, as with NGINX's smooth weighted round robin (a a b a c a a).
    assert!(longest_run <= 4, "bursts of {longest_run}");
}

#[test]
fn least_outstanding_requests_takes_the_least_loaded_and_spreads_ties() {
    let targets = healthy(3);
    let balancer = Balancer::uniform(Algorithm::LeastOutstandingRequests, 3);
    let _busy = [targets[0].begin_request(), targets[0].begin_request()];
    let _one = targets[1].begin_request();
    assert_eq!(balancer.pick(&targets, |t| t, &input(true)), Some(2));
    let _two = targets[2].begin_request();
    // Now 1 and 2 tie with one request each: they share the picks evenly.
    let counts = spread(&balancer, &targets, 10_000, 7);
    assert_eq!(counts[0], 0);
    assert!(counts[1].abs_diff(5000) < 300, "{counts:?}");
}

#[test]
fn ties_are_even_behind_a_run_of_unhealthy_targets() {
    use HealthState::*;
    let mut spec = vec![Unhealthy; 8];
    spec.extend([Healthy, Healthy]);
    let targets = states(&spec);
    for algorithm in [
        Algorithm::LeastOutstandingRequests,
        Algorithm::LeastConnections,
    ] {
        let balancer = Balancer::uniform(algorithm, 10);
        let counts = spread(&balancer, &targets, 20_000, 5);
        assert!(
            counts[8].abs_diff(10_000) < 500,
            "{algorithm:?}: {counts:?}"
        );
    }
}

#[test]
fn least_connections_counts_open_connections_per_weight() {
    let targets = healthy(2);
    let balancer = weighted(Algorithm::LeastConnections, &[1, 3]);
    let _a = targets[0].open_connection();
    let _b = [targets[1].open_connection(), targets[1].open_connection()];
    // 2/1 vs 3/3: the heavier target still has room.
    assert_eq!(balancer.pick(&targets, |t| t, &input(true)), Some(1));
}

#[test]
fn two_choices_avoid_the_loaded_target() {
    let targets = healthy(4);
    let balancer = Balancer::uniform(Algorithm::RandomTwoChoices, 4);
    let _load: Vec<_> = (0..10).map(|_| targets[0].begin_request()).collect();
    let counts = spread(&balancer, &targets, 3000, 11);
    assert_eq!(counts[0], 0, "the loaded target loses every pair it is in");
    assert!(counts[1..].iter().all(|&c| c > 800), "{counts:?}");
}

#[test]
fn least_response_time_sheds_a_slow_target_and_lets_it_recover() {
    let targets = healthy(3);
    let balancer = Balancer::uniform(Algorithm::LeastResponseTime, 3);
    let now = Instant::now();
    targets[0].record_latency(Duration::from_millis(200), now);
    targets[1].record_latency(Duration::from_millis(2), now);
    targets[2].record_latency(Duration::from_millis(2), now);
    let at = |now, seed| {
        let mut rng = Rng(seed);
        let mut counts = [0; 3];
        for _ in 0..3000 {
            let pick = PickInput {
                now,
                random: rng.next(),
                ..input(true)
            };
            counts[balancer.pick(&targets, |t| t, &pick).unwrap()] += 1;
        }
        counts
    };
    let counts = at(now, 3);
    assert_eq!(counts[0], 0, "{counts:?}");
    // The fast targets keep answering in 2 ms; the slow one, without new samples, decays:
    // a minute later it is tried again.
    let later = now + Duration::from_secs(60);
    targets[1].record_latency(Duration::from_millis(2), later);
    targets[2].record_latency(Duration::from_millis(2), later);
    let counts = at(later, 5);
    assert!(counts[0] > 500, "{counts:?}");
}

#[test]
fn least_response_time_neither_floods_nor_starves_a_new_target() {
    let targets = healthy(2);
    let balancer = Balancer::uniform(Algorithm::LeastResponseTime, 2);
    let now = Instant::now();
    targets[0].record_latency(Duration::from_millis(5), now);
    // Target 1 has no estimate: with equal loads the pair is a coin toss, not a rout.
    let counts = spread(&balancer, &targets, 1000, 9);
    assert!(
        counts[1] < 1000,
        "a new target must not take everything: {counts:?}"
    );
    // With more in flight on the known target, the newcomer takes the pick.
    let _busy: Vec<_> = (0..3).map(|_| targets[0].begin_request()).collect();
    assert_eq!(spread(&balancer, &targets, 100, 3), [0, 100]);
}

#[test]
fn weighted_random_follows_weights() {
    let targets = healthy(3);
    let balancer = weighted(Algorithm::WeightedRandom, &[6, 3, 1]);
    let counts = spread(&balancer, &targets, 10_000, 13);
    for (count, share) in counts.iter().zip([0.6, 0.3, 0.1]) {
        let seen = *count as f64 / 10_000.0;
        assert!((seen - share).abs() < 0.02, "{counts:?}");
    }
}

#[test]
fn hashing_keeps_a_key_on_its_target_and_moves_it_only_when_that_target_is_out() {
    let targets = healthy(5);
    let balancer = Balancer::uniform(Algorithm::ConsistentHash, 5);
    let place = |key: u64| {
        let pick = PickInput {
            key: Some(key),
            random: key.rotate_left(7),
            ..input(true)
        };
        balancer.pick(&targets, |t| t, &pick).unwrap()
    };
    let keys: Vec<u64> = (0..2000u64)
        .map(|k| stable_hash(&k.to_le_bytes()))
        .collect();
    let before: Vec<usize> = keys.iter().map(|&k| place(k)).collect();
    assert_eq!(before, keys.iter().map(|&k| place(k)).collect::<Vec<_>>());
    targets[2].set_state(
        HealthState::Unhealthy,
        HealthReason::Timeout,
        Instant::now(),
    );
    let after: Vec<usize> = keys.iter().map(|&k| place(k)).collect();
    for (b, a) in before.iter().zip(&after) {
        if *b != 2 {
            assert_eq!(a, b, "a key whose target is fine must not move");
        } else {
            assert_ne!(*a, 2);
        }
    }
    // A request without a key still goes somewhere.
    assert!(balancer.pick(&targets, |t| t, &input(true)).is_some());
}

#[test]
fn zone_affinity_prefers_local_targets_and_falls_back_to_other_zones() {
    let targets = healthy(3);
    let specs: Vec<TargetSpec> = [true, false, true]
        .iter()
        .enumerate()
        .map(|(i, local)| TargetSpec {
            weight: 1,
            local: *local,
            id: i as u64,
        })
        .collect();
    let options = BalanceOptions {
        zone_affinity: true,
        ..BalanceOptions::default()
    };
    let balancer = Balancer::build(Algorithm::RoundRobin, &specs, options, None);
    let counts = spread(&balancer, &targets, 100, 1);
    assert_eq!(counts, [50, 0, 50]);
    targets[0].set_state(
        HealthState::Unhealthy,
        HealthReason::Timeout,
        Instant::now(),
    );
    targets[2].set_state(
        HealthState::Unhealthy,
        HealthReason::Timeout,
        Instant::now(),
    );
    assert_eq!(spread(&balancer, &targets, 10, 1), [0, 10, 0]);
}

#[test]
fn a_ramping_target_gets_a_small_share_that_grows() {
    let targets = states(&[HealthState::Healthy, HealthState::Initial]);
    let ramp = Duration::from_secs(30);
    let specs = [
        TargetSpec {
            weight: 1,
            local: true,
            id: 1,
        },
        TargetSpec {
            weight: 1,
            local: true,
            id: 2,
        },
    ];
    let options = BalanceOptions {
        slow_start: ramp,
        ..BalanceOptions::default()
    };
    let view: Vec<&TargetState> = targets.iter().map(|t| &**t).collect();
    decide_slow_start(&view, ramp, Instant::now());
    targets[1].set_state(HealthState::Healthy, HealthReason::None, Instant::now());
    let became = Instant::now();
    assert_eq!(decide_slow_start(&view, ramp, became).len(), 1);
    for algorithm in [Algorithm::RoundRobin, Algorithm::LeastOutstandingRequests] {
        let balancer = Balancer::build(algorithm, &specs, options, None);
        let share = |at: Instant| {
            let mut rng = Rng(3);
            let mut new = 0;
            // Every pick holds its request, so least-outstanding sees the load it caused.
            let mut held = Vec::new();
            for _ in 0..2000 {
                let pick = PickInput {
                    now: at,
                    random: rng.next(),
                    ..input(true)
                };
                let i = balancer.pick(&targets, |t| t, &pick).unwrap();
                held.push(targets[i].begin_request());
                new += usize::from(i == 1);
            }
            new as f64 / 2000.0
        };
        let early = share(became + Duration::from_secs(3));
        let half = share(became + ramp / 2);
        let done = share(became + ramp);
        assert!(early < 0.15, "{algorithm:?}: early share {early}");
        assert!(
            half > early && half < 0.45,
            "{algorithm:?}: half-way share {half}"
        );
        assert!(
            (done - 0.5).abs() < 0.05,
            "{algorithm:?}: full share {done}"
        );
    }
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
    // Every case builds eight balancers, two of them with a 65537-slot hash table.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_algorithm_picks_an_ineligible_target_while_an_eligible_one_exists(
        spec in proptest::collection::vec(any_state(), 1..20),
        weights in proptest::collection::vec(1u32..10, 20),
        ejected in proptest::collection::vec(any::<bool>(), 20),
        local in proptest::collection::vec(any::<bool>(), 20),
        zone_affinity in any::<bool>(),
        exclude in proptest::option::of(0usize..20),
        fail_open in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let now = Instant::now();
        let n = spec.len();
        let exclude = exclude.filter(|&i| i < n);
        let targets = states(&spec);
        for (t, out) in targets.iter().zip(&ejected) {
            if *out {
                t.eject(now, Duration::from_secs(60));
            }
        }
        let eligible = |i: usize| spec[i] == HealthState::Healthy && !ejected[i];
        let registered = |i: usize| !matches!(spec[i], HealthState::Draining | HealthState::Unused);
        let others = |f: &dyn Fn(usize) -> bool| (0..n).any(|i| Some(i) != exclude && f(i));
        let any_eligible = others(&eligible);
        let any_local = zone_affinity && others(&|i| eligible(i) && local[i]);
        let left_eligible = exclude.is_some_and(eligible);
        let specs: Vec<TargetSpec> = (0..n)
            .map(|i| TargetSpec { weight: weights[i], local: local[i], id: i as u64 })
            .collect();
        let options = BalanceOptions { zone_affinity, ..BalanceOptions::default() };
        for algorithm in ALL {
            let balancer = Balancer::build(algorithm, &specs, options, None);
            let mut rng = Rng(seed);
            for _ in 0..20 {
                let pick = PickInput { now, exclude, random: rng.next(), key: Some(rng.next()), ..input(fail_open) };
                let picked = balancer.pick(&targets, |t| t, &pick);
                if let Some(i) = picked {
                    prop_assert!(Some(i) != exclude, "{:?} picked the excluded target", algorithm);
                }
                match picked {
                    Some(i) if any_local => prop_assert!(eligible(i) && local[i], "{:?}", algorithm),
                    Some(i) if any_eligible => prop_assert!(eligible(i), "{:?}", algorithm),
                    Some(i) => {
                        prop_assert!(fail_open && !left_eligible);
                        prop_assert!(registered(i), "{:?}", algorithm);
                    }
                    None => prop_assert!(!any_eligible && (!fail_open || left_eligible || !others(&registered))),
                }
            }
        }
    }

    #[test]
    fn smooth_round_robin_is_exact_over_a_cycle(weights in proptest::collection::vec(1u32..20, 1..12)) {
        let targets = healthy(weights.len());
        let balancer = weighted(Algorithm::RoundRobin, &weights);
        let total: u32 = weights.iter().sum();
        let mut counts = vec![0u32; weights.len()];
        for _ in 0..total * 3 {
            counts[balancer.pick(&targets, |t| t, &input(true)).unwrap()] += 1;
        }
        prop_assert_eq!(counts, weights.iter().map(|w| w * 3).collect::<Vec<_>>());
    }

    #[test]
    fn weighted_random_is_within_tolerance(weights in proptest::collection::vec(1u32..10, 2..6), seed in any::<u64>()) {
        let targets = healthy(weights.len());
        let balancer = weighted(Algorithm::WeightedRandom, &weights);
        let n = 20_000;
        let counts = spread(&balancer, &targets, n, seed);
        let total: u32 = weights.iter().sum();
        for (count, weight) in counts.iter().zip(&weights) {
            let expected = f64::from(*weight) / f64::from(total);
            prop_assert!((*count as f64 / n as f64 - expected).abs() < 0.025, "{:?} for {:?}", counts, weights);
        }
    }
}
