//! The dashboard's numbers: a bounded ring of per-second samples and the pure arithmetic
//! (deltas of cumulative counters, rates, shares, quantiles of histogram deltas) behind the
//! charts and the target table. No clock and no registry in here: the sampler reads those
//! and hands the values in, so every function is tested with plain numbers.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use ballast_telemetry::metrics::HistogramSnapshot;
use serde::Serialize;

/// How often the registry is sampled and an event is sent.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Per-second samples kept for the charts: five minutes.
pub(crate) const RING_CAPACITY: usize = 300;

/// Readings kept per target: the rate and quantiles in the table cover the last ten seconds.
pub(crate) const TARGET_READINGS: usize = 11;

/// A first-in first-out buffer that forgets its oldest item once full, so memory stays
/// bounded however long the process runs.
#[derive(Debug, Clone)]
pub(crate) struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
}

/// Cumulative counters of one listener at one moment (or their change over an interval).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ListenerTotals {
    /// Requests received.
    pub(crate) requests: u64,
    /// Responses sent.
    pub(crate) responses: u64,
    /// Responses sent with a 5xx status.
    pub(crate) errors_5xx: u64,
}

/// Everything the sampler read from the registry at one moment; all cumulative.
#[derive(Debug, Clone)]
pub(crate) struct Reading {
    /// Per listener, by name.
    pub(crate) listeners: BTreeMap<String, ListenerTotals>,
    /// Every target group's response-time histogram, merged.
    pub(crate) latency: HistogramSnapshot,
}

/// What happened during one sampling interval.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// When the interval ended, in Unix milliseconds (for the charts' time axis).
    pub(crate) unix_ms: u64,
    /// How long the interval really was (ticks are late on a busy machine).
    pub(crate) elapsed: Duration,
    /// Per listener, the counts during the interval.
    pub(crate) listeners: BTreeMap<String, ListenerTotals>,
    /// Latency observations during the interval (a histogram of the delta).
    pub(crate) latency: HistogramSnapshot,
}

/// One point of the charts: all listeners together over one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Point {
    /// End of the interval, Unix milliseconds.
    pub(crate) t: u64,
    /// Requests per second.
    pub(crate) requests_per_s: f64,
    /// Share of responses with a 5xx status, 0..=1; `None` without responses.
    pub(crate) error_ratio: Option<f64>,
    /// Median target response time, in milliseconds (a bucket's upper bound).
    pub(crate) p50_ms: Option<f64>,
    /// 99th percentile target response time, in milliseconds.
    pub(crate) p99_ms: Option<f64>,
}

/// One target's cumulative counters at one moment.
#[derive(Debug, Clone)]
pub(crate) struct TargetReading {
    /// When it was read.
    pub(crate) at: Instant,
    /// Attempts sent to it so far.
    pub(crate) requests: u64,
    /// Its response-time histogram so far.
    pub(crate) latency: HistogramSnapshot,
}

/// A target's recent figures for the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TargetFigures {
    /// Attempts per second over the window.
    pub(crate) requests_per_s: f64,
    /// Median response time over the window, in milliseconds.
    pub(crate) p50_ms: Option<f64>,
    /// 99th percentile response time over the window, in milliseconds.
    pub(crate) p99_ms: Option<f64>,
}

// === impl Reading ===

impl Default for Reading {
    fn default() -> Self {
        Self {
            listeners: BTreeMap::new(),
            latency: empty_histogram(),
        }
    }
}

// === impl Ring ===

impl<T> Ring<T> {
    /// An empty ring keeping at most `capacity` items.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            items: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Appends `item`, dropping the oldest ones beyond the capacity.
    pub(crate) fn push(&mut self, item: T) {
        if self.capacity == 0 {
            return;
        }
        while self.items.len() >= self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }

    /// The oldest item.
    pub(crate) fn first(&self) -> Option<&T> {
        self.items.front()
    }

    /// The newest item.
    pub(crate) fn last(&self) -> Option<&T> {
        self.items.back()
    }

    /// How many items it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

// === pure functions ===

/// A histogram with no observations (and no buckets yet).
pub(crate) fn empty_histogram() -> HistogramSnapshot {
    HistogramSnapshot {
        cumulative: Vec::new(),
        sum_us: 0,
        count: 0,
    }
}

/// The change of a counter; a counter that went down was recreated (a listener removed and
/// added again), so everything it holds is new.
pub(crate) fn counter_delta(before: u64, after: u64) -> u64 {
    if after >= before {
        after - before
    } else {
        after
    }
}

/// The change of a listener's counters between two readings.
pub(crate) fn totals_delta(before: &ListenerTotals, after: &ListenerTotals) -> ListenerTotals {
    ListenerTotals {
        requests: counter_delta(before.requests, after.requests),
        responses: counter_delta(before.responses, after.responses),
        errors_5xx: counter_delta(before.errors_5xx, after.errors_5xx),
    }
}

/// The observations recorded between two snapshots of one histogram (still cumulative per
/// bucket, so [`HistogramSnapshot::quantile_us`] applies). A histogram whose count went down
/// was recreated; then the later snapshot is all new.
pub(crate) fn histogram_delta(
    before: &HistogramSnapshot,
    after: &HistogramSnapshot,
) -> HistogramSnapshot {
    if after.count < before.count || after.cumulative.len() != before.cumulative.len() {
        return after.clone();
    }
    HistogramSnapshot {
        cumulative: after
            .cumulative
            .iter()
            .zip(&before.cumulative)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect(),
        sum_us: after.sum_us.saturating_sub(before.sum_us),
        count: after.count - before.count,
    }
}

/// Several histograms with the same buckets added together (an empty snapshot has no
/// buckets yet and takes the other's).
pub(crate) fn merge_histograms<'a>(
    histograms: impl IntoIterator<Item = &'a HistogramSnapshot>,
) -> HistogramSnapshot {
    let mut merged = empty_histogram();
    for h in histograms {
        if merged.cumulative.len() < h.cumulative.len() {
            merged.cumulative.resize(h.cumulative.len(), merged.count);
        }
        for (m, c) in merged.cumulative.iter_mut().zip(&h.cumulative) {
            *m += c;
        }
        merged.sum_us += h.sum_us;
        merged.count += h.count;
    }
    merged
}

/// What happened between two readings `elapsed` apart, the later one taken at `unix_ms`.
pub(crate) fn sample(before: &Reading, after: &Reading, elapsed: Duration, unix_ms: u64) -> Sample {
    let listeners = after
        .listeners
        .iter()
        .map(|(name, now)| {
            let then = before.listeners.get(name).copied().unwrap_or_default();
            (name.clone(), totals_delta(&then, now))
        })
        .collect();
    Sample {
        unix_ms,
        elapsed,
        listeners,
        latency: histogram_delta(&before.latency, &after.latency),
    }
}

/// `count` events over `elapsed`, per second; 0 over no time at all.
pub(crate) fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// `part` out of `whole`; `None` when there is no whole.
pub(crate) fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part.min(whole) as f64 / whole as f64)
}

/// The `q` quantile in milliseconds; `None` without observations or when it falls in the
/// unbounded last bucket (slower than the largest bound, nothing sensible to draw).
pub(crate) fn quantile_ms(h: &HistogramSnapshot, q: f64) -> Option<f64> {
    h.quantile_us(q)
        .filter(|&us| us != u64::MAX)
        .map(|us| us as f64 / 1000.0)
}

/// A sample as one chart point: every listener summed.
pub(crate) fn point(sample: &Sample) -> Point {
    let total = sample
        .listeners
        .values()
        .fold(ListenerTotals::default(), |acc, l| ListenerTotals {
            requests: acc.requests + l.requests,
            responses: acc.responses + l.responses,
            errors_5xx: acc.errors_5xx + l.errors_5xx,
        });
    Point {
        t: sample.unix_ms,
        requests_per_s: per_second(total.requests, sample.elapsed),
        error_ratio: share(total.errors_5xx, total.responses),
        p50_ms: quantile_ms(&sample.latency, 0.5),
        p99_ms: quantile_ms(&sample.latency, 0.99),
    }
}

/// A target's rate and quantiles between its oldest and newest kept readings; `None` with
/// fewer than two.
pub(crate) fn target_figures(readings: &Ring<TargetReading>) -> Option<TargetFigures> {
    let (first, last) = (readings.first()?, readings.last()?);
    let elapsed = last.at.checked_duration_since(first.at)?;
    if elapsed.is_zero() {
        return None;
    }
    let latency = histogram_delta(&first.latency, &last.latency);
    Some(TargetFigures {
        requests_per_s: per_second(counter_delta(first.requests, last.requests), elapsed),
        p50_ms: quantile_ms(&latency, 0.5),
        p99_ms: quantile_ms(&latency, 0.99),
    })
}

#[cfg(test)]
mod tests;
