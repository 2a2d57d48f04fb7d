//! One pick per algorithm for groups of 2 to 1,000 healthy targets: the cost every request
//! pays to choose its target. Inputs are built outside the measured loop.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballast_balance::{
    decide_slow_start, Algorithm, BalanceOptions, Balancer, HealthReason, HealthState, PickInput,
    TargetSpec, TargetState,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RoundRobin,
    Algorithm::WeightedRandom,
    Algorithm::LeastOutstandingRequests,
    Algorithm::LeastConnections,
    Algorithm::LeastResponseTime,
    Algorithm::RandomTwoChoices,
    Algorithm::IpHash,
    Algorithm::ConsistentHash,
];

fn picks(c: &mut Criterion) {
    for algorithm in ALGORITHMS {
        let mut group = c.benchmark_group(format!("pick/{}", algorithm.name()));
        for n in [2usize, 10, 100, 1000] {
            let targets: Vec<Arc<TargetState>> = (0..n)
                .map(|_| Arc::new(TargetState::new(HealthState::Healthy, HealthReason::None)))
                .collect();
            let balancer = Balancer::uniform(algorithm, n);
            let now = Instant::now();
            let inputs: Vec<PickInput> = (0..1024u64)
                .map(|i| PickInput {
                    now,
                    fail_open: true,
                    exclude: None,
                    random: i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    key: Some(i.wrapping_mul(0xbf58_476d_1ce4_e5b9)),
                })
                .collect();
            let mut k = 0usize;
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter(|| {
                    k = (k + 1) & 1023;
                    black_box(balancer.pick(black_box(&targets), |t| t, &inputs[k]))
                })
            });
        }
        group.finish();
    }
}

/// The slower paths at 100 and 1,000 targets: weights, a tenth of the group unhealthy,
/// a target in slow start.
fn mixed(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick-mixed");
    for n in [100usize, 1000] {
        let targets: Vec<Arc<TargetState>> = (0..n)
            .map(|i| {
                let state = if i % 10 == 0 {
                    HealthState::Unhealthy
                } else {
                    HealthState::Healthy
                };
                Arc::new(TargetState::new(state, HealthReason::None))
            })
            .collect();
        let specs: Vec<TargetSpec> = (0..n)
            .map(|i| TargetSpec {
                weight: 1 + (i % 5) as u32,
                local: true,
                id: i as u64,
            })
            .collect();
        let slow = BalanceOptions {
            slow_start: Duration::from_secs(30),
            ..BalanceOptions::default()
        };
        // Slow start as it is in service: decided for everyone, one target ramping.
        let view: Vec<&TargetState> = targets.iter().map(|t| &**t).collect();
        decide_slow_start(&view, Duration::from_secs(30), Instant::now());
        targets[1].set_state(
            HealthState::Unhealthy,
            HealthReason::Timeout,
            Instant::now(),
        );
        targets[1].set_state(HealthState::Healthy, HealthReason::None, Instant::now());
        decide_slow_start(&view, Duration::from_secs(30), Instant::now());
        let now = Instant::now();
        let cases = [
            (
                "round_robin_weighted",
                Algorithm::RoundRobin,
                BalanceOptions::default(),
            ),
            ("round_robin_slow_start", Algorithm::RoundRobin, slow),
            (
                "least_outstanding_requests_weighted",
                Algorithm::LeastOutstandingRequests,
                BalanceOptions::default(),
            ),
            (
                "least_outstanding_requests_slow_start",
                Algorithm::LeastOutstandingRequests,
                slow,
            ),
            (
                "random_two_choices_weighted",
                Algorithm::RandomTwoChoices,
                BalanceOptions::default(),
            ),
        ];
        for (name, algorithm, options) in cases {
            let balancer = Balancer::build(algorithm, &specs, options, None);
            let mut k = 0u64;
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    k = k.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    let input = PickInput {
                        now,
                        fail_open: true,
                        exclude: None,
                        random: k,
                        key: None,
                    };
                    black_box(balancer.pick(black_box(&targets), |t| t, &input))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, picks, mixed);
criterion_main!(benches);
