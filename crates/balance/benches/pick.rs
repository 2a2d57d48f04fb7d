//! One pick per algorithm for groups of 2 to 1,000 healthy targets: the cost every request
//! pays to choose its target. Inputs are built outside the measured loop.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use ballast_balance::{Algorithm, Balancer, HealthReason, HealthState, PickInput, TargetState};
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

criterion_group!(benches, picks);
criterion_main!(benches);
