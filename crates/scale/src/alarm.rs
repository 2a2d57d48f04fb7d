//! Metric alarms, as CloudWatch evaluates those that drive step and simple scaling: a
//! statistic per period, compared with a threshold, in alarm when M of the last N periods
//! breach. Pure: the caller hands the periods' samples in.

pub use ballast_config::{Comparison, MissingData, Statistic};

/// The datapoint of a period with these samples, by `statistic`; `None` when it has none
/// (missing data), except that a count of none is 0.
pub fn datapoint(statistic: Statistic, samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return (statistic == Statistic::SampleCount).then_some(0.0);
    }
    let n = samples.len() as f64;
    Some(match statistic {
        Statistic::Average => samples.iter().sum::<f64>() / n,
        Statistic::Sum => samples.iter().sum(),
        Statistic::Minimum => samples.iter().copied().fold(f64::INFINITY, f64::min),
        Statistic::Maximum => samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Statistic::SampleCount => n,
    })
}

/// Whether `value` breaches `threshold` under `comparison`.
pub fn breaches(comparison: Comparison, value: f64, threshold: f64) -> bool {
    match comparison {
        Comparison::GreaterOrEqual => value >= threshold,
        Comparison::Greater => value > threshold,
        Comparison::Less => value < threshold,
        Comparison::LessOrEqual => value <= threshold,
    }
}

/// An alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    /// Within the threshold.
    Ok,
    /// Breaching: the policy acts (and keeps acting while it stays so, as ASG does).
    Alarm,
    /// Not enough datapoints to tell: no scaling.
    InsufficientData,
}

/// An alarm on one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alarm {
    /// How each period's samples become its datapoint.
    pub statistic: Statistic,
    /// What counts as a breach.
    pub comparison: Comparison,
    /// The value datapoints are compared with.
    pub threshold: f64,
    /// N: how many of the latest periods are looked at.
    pub evaluation_periods: usize,
    /// M: how many of those must breach (M ≤ N; M = N is "consecutive").
    pub datapoints_to_alarm: usize,
    /// What a period without data counts as.
    pub missing: MissingData,
}

impl From<&ballast_config::AlarmConfig> for Alarm {
    fn from(c: &ballast_config::AlarmConfig) -> Self {
        Alarm {
            statistic: c.statistic,
            comparison: c.comparison,
            threshold: c.threshold,
            evaluation_periods: c.evaluation_periods as usize,
            datapoints_to_alarm: c.datapoints_to_alarm as usize,
            missing: c.missing_data,
        }
    }
}

impl Alarm {
    /// The state after the latest period. `periods` are the datapoints of past periods,
    /// oldest first (`None`: no data in that period); `previous` is the state before.
    pub fn evaluate(&self, periods: &[Option<f64>], previous: AlarmState) -> AlarmState {
        let n = self.evaluation_periods.max(1);
        let m = self.datapoints_to_alarm.clamp(1, n);
        let mut counted = 0;
        let mut breaching = 0;
        let mut all_missing = true;
        for point in periods.iter().rev() {
            if counted == n {
                break;
            }
            let breach = match (point, self.missing) {
                (Some(v), _) => {
                    all_missing = false;
                    breaches(self.comparison, *v, self.threshold)
                }
                (None, MissingData::Breaching) => true,
                (None, MissingData::NotBreaching) => false,
                // Skipped: the window reaches further back.
                (None, MissingData::Missing | MissingData::Ignore) => continue,
            };
            counted += 1;
            breaching += usize::from(breach);
        }
        if all_missing && self.missing == MissingData::Ignore {
            return previous;
        }
        if breaching >= m {
            AlarmState::Alarm
        } else if counted < n && counted - breaching < n - m + 1 {
            // Too few periods seen to rule the alarm in or out.
            AlarmState::InsufficientData
        } else {
            AlarmState::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(n: usize, m: usize, missing: MissingData) -> Alarm {
        Alarm {
            statistic: Statistic::Average,
            comparison: Comparison::GreaterOrEqual,
            threshold: 50.0,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            missing,
        }
    }

    #[test]
    fn statistics_of_a_period() {
        let s = [1.0, 4.0, 7.0];
        assert_eq!(datapoint(Statistic::Average, &s), Some(4.0));
        assert_eq!(datapoint(Statistic::Sum, &s), Some(12.0));
        assert_eq!(datapoint(Statistic::Minimum, &s), Some(1.0));
        assert_eq!(datapoint(Statistic::Maximum, &s), Some(7.0));
        assert_eq!(datapoint(Statistic::SampleCount, &s), Some(3.0));
        assert_eq!(datapoint(Statistic::Average, &[]), None);
        assert_eq!(datapoint(Statistic::SampleCount, &[]), Some(0.0));
    }

    #[test]
    fn m_of_n_periods_must_breach() {
        let a = alarm(3, 2, MissingData::Missing);
        let ok = AlarmState::Ok;
        assert_eq!(
            a.evaluate(&[Some(60.0), Some(10.0), Some(55.0)], ok),
            AlarmState::Alarm
        );
        assert_eq!(
            a.evaluate(&[Some(60.0), Some(10.0), Some(10.0)], ok),
            AlarmState::Ok
        );
        // Only the latest N count.
        assert_eq!(
            a.evaluate(
                &[Some(60.0), Some(60.0), Some(10.0), Some(10.0), Some(60.0)],
                ok
            ),
            AlarmState::Ok
        );
        // Consecutive (M = N): one low period is enough to stay OK.
        let c = alarm(3, 3, MissingData::Missing);
        assert_eq!(
            c.evaluate(&[Some(60.0), Some(49.0), Some(60.0)], ok),
            AlarmState::Ok
        );
        assert_eq!(
            c.evaluate(&[Some(50.0), Some(51.0), Some(60.0)], ok),
            AlarmState::Alarm
        );
    }

    #[test]
    fn missing_data_is_treated_as_configured() {
        let points = [Some(60.0), None, None];
        let ok = AlarmState::Ok;
        assert_eq!(
            alarm(3, 3, MissingData::Missing).evaluate(&points, ok),
            AlarmState::InsufficientData
        );
        assert_eq!(
            alarm(3, 3, MissingData::Breaching).evaluate(&points, ok),
            AlarmState::Alarm
        );
        assert_eq!(
            alarm(3, 3, MissingData::NotBreaching).evaluate(&points, ok),
            AlarmState::Ok
        );
        assert_eq!(
            alarm(3, 3, MissingData::Ignore).evaluate(&[None, None], AlarmState::Alarm),
            AlarmState::Alarm
        );
        // Missing periods are skipped: older datapoints fill the window.
        assert_eq!(
            alarm(2, 2, MissingData::Missing).evaluate(&[Some(60.0), Some(70.0), None], ok),
            AlarmState::Alarm
        );
        // Too few datapoints can still settle it when the breaches cannot reach M.
        assert_eq!(
            alarm(3, 2, MissingData::Missing).evaluate(&[Some(1.0), Some(2.0)], ok),
            AlarmState::Ok
        );
        assert_eq!(
            alarm(3, 2, MissingData::Missing).evaluate(&[Some(1.0)], ok),
            AlarmState::InsufficientData
        );
    }
}
