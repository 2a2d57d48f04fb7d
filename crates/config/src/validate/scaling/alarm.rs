//! The alarm of a step or simple policy, and metric names.

use crate::defaults::*;
use crate::error::KeyPath;
use crate::raw::RawAlarm;
use crate::scaling::*;

use super::super::Validator;

impl Validator {
    pub(super) fn alarm(&mut self, path: &KeyPath, raw: &RawAlarm) -> AlarmConfig {
        let metric = self.metric(&path.key("metric"), &raw.metric, &ScalingMetric::ALL);
        let statistic = match raw.statistic.as_deref().unwrap_or("average") {
            "average" => Statistic::Average,
            "sum" => Statistic::Sum,
            "minimum" => Statistic::Minimum,
            "maximum" => Statistic::Maximum,
            "sample_count" => Statistic::SampleCount,
            other => {
                self.invalid(
                    path.key("statistic"),
                    format!("\"{other}\""),
                    "\"average\", \"sum\", \"minimum\", \"maximum\" or \"sample_count\"",
                );
                Statistic::Average
            }
        };
        let comparison = match raw.comparison.as_str() {
            ">=" => Comparison::GreaterOrEqual,
            ">" => Comparison::Greater,
            "<" => Comparison::Less,
            "<=" => Comparison::LessOrEqual,
            other => {
                self.invalid(
                    path.key("comparison"),
                    format!("\"{other}\""),
                    "\">=\", \">\", \"<\" or \"<=\"",
                );
                Comparison::GreaterOrEqual
            }
        };
        if !raw.threshold.is_finite() {
            self.invalid(
                path.key("threshold"),
                raw.threshold.to_string(),
                "a finite number",
            );
        }
        let period = self.positive_duration(
            &path.key("period"),
            raw.period.as_deref(),
            DEFAULT_ALARM_PERIOD,
        );
        let secs = period.as_secs();
        if period.subsec_nanos() != 0 || !(matches!(secs, 10 | 20 | 30) || secs.is_multiple_of(60))
        {
            self.invalid(
                path.key("period"),
                format!("{period:?}"),
                "10s, 20s, 30s or a whole number of minutes (CloudWatch's periods)",
            );
        }
        let evaluation_periods = self.count(
            &path.key("evaluation_periods"),
            raw.evaluation_periods,
            1,
            1..=1440,
        ) as u32;
        let datapoints_to_alarm = self.count(
            &path.key("datapoints_to_alarm"),
            raw.datapoints_to_alarm,
            evaluation_periods as usize,
            1..=evaluation_periods as usize,
        ) as u32;
        let missing_data = match raw.missing_data.as_deref().unwrap_or("missing") {
            "missing" => MissingData::Missing,
            "breaching" => MissingData::Breaching,
            "not_breaching" => MissingData::NotBreaching,
            "ignore" => MissingData::Ignore,
            other => {
                self.invalid(
                    path.key("missing_data"),
                    format!("\"{other}\""),
                    "\"missing\", \"breaching\", \"not_breaching\" or \"ignore\"",
                );
                MissingData::Missing
            }
        };
        AlarmConfig {
            metric,
            statistic,
            comparison,
            threshold: raw.threshold,
            period,
            evaluation_periods,
            datapoints_to_alarm,
            missing_data,
        }
    }

    /// A metric among `allowed`.
    pub(super) fn metric(
        &mut self,
        path: &KeyPath,
        name: &str,
        allowed: &[ScalingMetric],
    ) -> ScalingMetric {
        if let Some(m) = allowed.iter().find(|m| m.name() == name) {
            return *m;
        }
        let names: Vec<String> = allowed
            .iter()
            .map(|m| format!("\"{}\"", m.name()))
            .collect();
        self.invalid(path.clone(), format!("\"{name}\""), names.join(", "));
        allowed[0]
    }
}
