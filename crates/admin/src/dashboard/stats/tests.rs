use std::time::{Duration, Instant};

use ballast_telemetry::metrics::Histogram;

use super::*;

fn histogram(observations_ms: &[u64]) -> HistogramSnapshot {
    let h = Histogram::default();
    for ms in observations_ms {
        h.observe(Duration::from_millis(*ms));
    }
    h.snapshot()
}

fn reading(listeners: &[(&str, u64, u64, u64)], latency: HistogramSnapshot) -> Reading {
    Reading {
        listeners: listeners
            .iter()
            .map(|(name, requests, responses, errors_5xx)| {
                (
                    (*name).to_owned(),
                    ListenerTotals {
                        requests: *requests,
                        responses: *responses,
                        errors_5xx: *errors_5xx,
                    },
                )
            })
            .collect(),
        latency,
    }
}

#[test]
fn the_ring_keeps_the_newest_up_to_its_capacity() {
    let mut ring = Ring::new(3);
    assert!(ring.first().is_none());
    for i in 0..5 {
        ring.push(i);
    }
    assert_eq!(ring.len(), 3);
    assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![2, 3, 4]);
    assert_eq!((ring.first(), ring.last()), (Some(&2), Some(&4)));
    let mut none = Ring::new(0);
    none.push(1);
    assert_eq!(none.len(), 0);
}

#[test]
fn a_full_ring_holds_five_minutes() {
    let mut ring = Ring::new(RING_CAPACITY);
    for i in 0..1000 {
        ring.push(i);
    }
    assert_eq!(ring.len(), 300);
    assert_eq!(ring.first(), Some(&700));
}

#[test]
fn counters_that_went_down_were_recreated() {
    assert_eq!(counter_delta(10, 15), 5);
    assert_eq!(counter_delta(10, 10), 0);
    assert_eq!(counter_delta(10, 3), 3);
}

#[test]
fn rates_and_shares() {
    assert_eq!(per_second(50, Duration::from_millis(500)), 100.0);
    assert_eq!(per_second(7, Duration::ZERO), 0.0);
    assert_eq!(share(1, 4), Some(0.25));
    assert_eq!(share(0, 0), None);
    assert_eq!(share(5, 4), Some(1.0), "never above one");
}

#[test]
fn quantiles_of_a_histogram_delta_ignore_what_came_before() {
    // Before: 100 slow requests (~200 ms). Then 10 fast ones (~2 ms).
    let before = histogram(&[200; 100]);
    let mut all = vec![200; 100];
    all.extend([2; 10]);
    let after = histogram(&all);
    let delta = histogram_delta(&before, &after);
    assert_eq!(delta.count, 10);
    assert_eq!(quantile_ms(&delta, 0.5), Some(2.5));
    assert_eq!(quantile_ms(&delta, 0.99), Some(2.5));
    // The cumulative histogram would have said 250 ms.
    assert_eq!(quantile_ms(&after, 0.5), Some(250.0));
}

#[test]
fn a_recreated_histogram_counts_as_new() {
    let before = histogram(&[5, 5, 5]);
    let after = histogram(&[1]);
    assert_eq!(histogram_delta(&before, &after), after);
    assert_eq!(histogram_delta(&empty_histogram(), &after), after);
}

#[test]
fn quantiles_without_observations_or_beyond_the_last_bucket_are_none() {
    assert_eq!(quantile_ms(&histogram(&[]), 0.5), None);
    assert_eq!(quantile_ms(&histogram(&[120_000]), 0.5), None);
    let mixed = histogram(&[1, 1, 1, 120_000]);
    assert_eq!(quantile_ms(&mixed, 0.5), Some(1.0));
    assert_eq!(quantile_ms(&mixed, 0.99), None);
}

#[test]
fn merged_histograms_add_bucket_by_bucket() {
    let a = histogram(&[1, 30]);
    let b = histogram(&[1, 1, 300]);
    let merged = merge_histograms([&a, &b]);
    assert_eq!(merged, histogram(&[1, 30, 1, 1, 300]));
    assert_eq!(merge_histograms([]), empty_histogram());
    assert_eq!(merge_histograms([&empty_histogram(), &a]), a);
}

#[test]
fn a_sample_is_the_change_per_listener_and_a_point_sums_them() {
    let before = reading(&[("web", 100, 100, 10)], histogram(&[3; 50]));
    let after = reading(
        &[("web", 120, 118, 13), ("api", 10, 10, 0)],
        histogram(&[3; 80]),
    );
    let s = sample(&before, &after, Duration::from_secs(2), 1_000);
    assert_eq!(
        s.listeners["web"],
        ListenerTotals {
            requests: 20,
            responses: 18,
            errors_5xx: 3
        }
    );
    assert_eq!(
        s.listeners["api"].requests, 10,
        "a new listener counts from zero"
    );
    assert_eq!(s.latency.count, 30);
    let p = point(&s);
    assert_eq!(
        p,
        Point {
            t: 1_000,
            requests_per_s: 15.0,
            error_ratio: Some(3.0 / 28.0),
            p50_ms: Some(5.0),
            p99_ms: Some(5.0),
        }
    );
    let quiet = point(&sample(&after, &after, Duration::from_secs(1), 2_000));
    assert_eq!(quiet.requests_per_s, 0.0);
    assert_eq!(
        (quiet.error_ratio, quiet.p50_ms, quiet.p99_ms),
        (None, None, None)
    );
}

#[test]
fn target_figures_span_the_kept_readings() {
    let start = Instant::now();
    let mut readings = Ring::new(TARGET_READINGS);
    assert_eq!(target_figures(&readings), None);
    for second in 0..20u64 {
        let fast = vec![1; usize::try_from(second * 10).unwrap()];
        readings.push(TargetReading {
            at: start + Duration::from_secs(second),
            requests: second * 10,
            latency: histogram(&fast),
        });
    }
    let figures = target_figures(&readings).unwrap();
    assert_eq!(figures.requests_per_s, 10.0);
    assert_eq!(figures.p50_ms, Some(1.0));
    let mut single = Ring::new(TARGET_READINGS);
    single.push(TargetReading {
        at: start,
        requests: 1,
        latency: histogram(&[1]),
    });
    assert_eq!(target_figures(&single), None, "one reading has no rate");
}
