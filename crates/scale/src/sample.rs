//! What the scaler observes of its group: one [`Sample`] per sample interval, and how each
//! metric a policy may name is read from it, and gathered into periods.

use std::time::Duration;

use ballast_config::ScalingMetric;

use crate::alarm::{datapoint, Statistic};

/// The interval between samples: alarms' shortest period (CloudWatch's high resolution).
pub const SAMPLE: Duration = Duration::from_secs(10);

/// The group's metrics over one sample interval.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// Requests the group's targets received in the interval.
    pub requests: f64,
    /// Instances in service, warming ones included: the load is shared among them, so
    /// per-target counts divide by this.
    pub serving: u32,
    /// Mean CPU use of the serving instances, in percent (`None`: unknown).
    pub cpu: Option<f64>,
    /// Mean time to a response head, in milliseconds (`None`: no request).
    pub response_time_ms: Option<f64>,
    /// Connections open to the serving instances at the end of the interval.
    pub connections: Option<f64>,
}

impl Sample {
    /// The value of `metric` in this sample, or `None` when it has none. Per-target counts
    /// divide by the serving instances (by one when none serves: the load had no one to
    /// share it). Request counts per target are per minute, as ALB's.
    pub fn value(&self, metric: ScalingMetric) -> Option<f64> {
        let share = f64::from(self.serving.max(1));
        let per_minute = 60.0 / SAMPLE.as_secs_f64();
        match metric {
            ScalingMetric::RequestCountPerTarget => Some(self.requests * per_minute / share),
            ScalingMetric::AverageCpu => self.cpu,
            ScalingMetric::TargetResponseTime => self.response_time_ms,
            ScalingMetric::ActiveConnectionsPerTarget => self.connections.map(|c| c / share),
            ScalingMetric::RequestCount => Some(self.requests),
        }
    }
}

/// Samples gathered into periods of one length: each period's datapoint, oldest first,
/// at most `keep` of them.
#[derive(Debug, Clone)]
pub struct Periods {
    metric: ScalingMetric,
    statistic: Statistic,
    /// Samples per period.
    per_period: usize,
    keep: usize,
    current: Vec<f64>,
    seen: usize,
    points: Vec<Option<f64>>,
}

impl Periods {
    /// Periods of `period` (a whole number of samples, at least one) of `metric`, each
    /// reduced by `statistic`, the latest `keep` kept.
    pub fn new(metric: ScalingMetric, statistic: Statistic, period: Duration, keep: usize) -> Self {
        let per_period = (period.as_secs() / SAMPLE.as_secs()).max(1) as usize;
        Self {
            metric,
            statistic,
            per_period,
            keep: keep.max(1),
            current: Vec::with_capacity(per_period),
            seen: 0,
            points: Vec::new(),
        }
    }

    /// Adds one sample; true when it closed a period.
    pub fn push(&mut self, sample: &Sample) -> bool {
        if let Some(v) = sample.value(self.metric).filter(|v| v.is_finite()) {
            self.current.push(v);
        }
        self.seen += 1;
        if self.seen < self.per_period {
            return false;
        }
        // A count metric sums over the period's samples; a per-target rate or a level is
        // reduced by the statistic.
        let point = datapoint(self.statistic, &self.current);
        self.points.push(point);
        if self.points.len() > self.keep {
            self.points.remove(0);
        }
        self.current.clear();
        self.seen = 0;
        true
    }

    /// The closed periods' datapoints, oldest first.
    pub fn points(&self) -> &[Option<f64>] {
        &self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(requests: f64, serving: u32) -> Sample {
        Sample {
            requests,
            serving,
            cpu: Some(40.0),
            ..Sample::default()
        }
    }

    #[test]
    fn per_target_counts_are_per_minute_and_per_serving_instance() {
        let s = sample(100.0, 4);
        assert_eq!(s.value(ScalingMetric::RequestCountPerTarget), Some(150.0));
        assert_eq!(
            sample(100.0, 0).value(ScalingMetric::RequestCountPerTarget),
            Some(600.0)
        );
        assert_eq!(s.value(ScalingMetric::RequestCount), Some(100.0));
        assert_eq!(s.value(ScalingMetric::AverageCpu), Some(40.0));
        assert_eq!(s.value(ScalingMetric::TargetResponseTime), None);
    }

    #[test]
    fn samples_close_periods_and_only_the_latest_are_kept() {
        let mut p = Periods::new(
            ScalingMetric::RequestCount,
            Statistic::Sum,
            Duration::from_secs(60),
            2,
        );
        for i in 0..5 {
            assert!(!p.push(&sample(f64::from(i), 1)));
        }
        assert!(p.push(&sample(5.0, 1)));
        assert_eq!(p.points(), &[Some(15.0)]);
        for _ in 0..12 {
            p.push(&sample(1.0, 1));
        }
        assert_eq!(p.points(), &[Some(6.0), Some(6.0)]);
        // A period with no value of a level metric is missing data.
        let mut cpu = Periods::new(
            ScalingMetric::TargetResponseTime,
            Statistic::Average,
            SAMPLE,
            3,
        );
        cpu.push(&sample(1.0, 1));
        assert_eq!(cpu.points(), &[None]);
    }
}
