//! One scaling policy and one scheduled action: the keys each kind takes, and their values.

use std::time::Duration;

use crate::defaults::*;
use crate::error::KeyPath;
use crate::raw::RawScalingPolicy;
use crate::scaling::*;

use super::super::Validator;

/// The metrics a target tracking policy may hold at a target (they fall as capacity grows).
const TRACKED: [ScalingMetric; 4] = [
    ScalingMetric::RequestCountPerTarget,
    ScalingMetric::AverageCpu,
    ScalingMetric::TargetResponseTime,
    ScalingMetric::ActiveConnectionsPerTarget,
];

impl Validator {
    pub(super) fn scaling_policy(
        &mut self,
        path: &KeyPath,
        raw: &RawScalingPolicy,
        default_cooldown: Duration,
    ) -> Option<ScalingPolicyConfig> {
        let kind = raw.r#type.as_str();
        let present = [
            ("metric", raw.metric.is_some()),
            ("target", raw.target.is_some()),
            ("disable_scale_in", raw.disable_scale_in.is_some()),
            ("alarm", raw.alarm.is_some()),
            ("adjustment_type", raw.adjustment_type.is_some()),
            ("adjustment", raw.adjustment.is_some()),
            ("steps", raw.steps.is_some()),
            (
                "min_adjustment_magnitude",
                raw.min_adjustment_magnitude.is_some(),
            ),
            ("cooldown", raw.cooldown.is_some()),
            ("mode", raw.mode.is_some()),
            ("scheduling_buffer", raw.scheduling_buffer.is_some()),
            ("max_capacity_breach", raw.max_capacity_breach.is_some()),
            ("max_capacity_buffer", raw.max_capacity_buffer.is_some()),
        ];
        let takes: &[&str] = match kind {
            "target_tracking" => &["metric", "target", "disable_scale_in"],
            "step" => &[
                "alarm",
                "adjustment_type",
                "steps",
                "min_adjustment_magnitude",
            ],
            "simple" => &[
                "alarm",
                "adjustment_type",
                "adjustment",
                "min_adjustment_magnitude",
                "cooldown",
            ],
            "predictive" => &[
                "metric",
                "target",
                "mode",
                "scheduling_buffer",
                "max_capacity_breach",
                "max_capacity_buffer",
            ],
            other => {
                self.invalid(
                    path.key("type"),
                    format!("\"{other}\""),
                    "\"target_tracking\", \"step\", \"simple\" or \"predictive\"",
                );
                return None;
            }
        };
        for (key, set) in present {
            if set && !takes.contains(&key) {
                self.invalid(
                    path.key(key),
                    format!("{key} on a {kind} policy"),
                    format!("only {}", takes.join(", ")),
                );
            }
        }
        let policy = match kind {
            "target_tracking" => ScalingPolicyConfig::TargetTracking {
                metric: {
                    let name = self.required(path, "metric", raw.metric.as_deref())?;
                    self.metric(&path.key("metric"), name, &TRACKED)
                },
                target: self.positive_number(path, "target", raw.target)?,
                disable_scale_in: raw.disable_scale_in.unwrap_or(false),
            },
            "step" => {
                let alarm = self.required(path, "alarm", raw.alarm.as_ref())?;
                let alarm = self.alarm(&path.key("alarm"), alarm);
                let adjustment_type = self.adjustment_type(path, raw.adjustment_type.as_deref())?;
                let steps: Vec<Step> = self
                    .required(path, "steps", raw.steps.as_ref())?
                    .iter()
                    .map(|s| Step {
                        lower: s.lower,
                        upper: s.upper,
                        adjustment: s.adjustment,
                    })
                    .collect();
                let steps = match check_steps(&steps) {
                    Ok(sorted) => sorted,
                    Err(e) => {
                        self.invalid(
                            path.key("steps"),
                            format!("{} steps", steps.len()),
                            e.to_string(),
                        );
                        return None;
                    }
                };
                ScalingPolicyConfig::Step {
                    alarm,
                    adjustment_type,
                    steps,
                    min_adjustment_magnitude: self.magnitude(path, raw, adjustment_type),
                }
            }
            "simple" => {
                let alarm = self.required(path, "alarm", raw.alarm.as_ref())?;
                let alarm = self.alarm(&path.key("alarm"), alarm);
                let adjustment_type = self.adjustment_type(path, raw.adjustment_type.as_deref())?;
                let adjustment = *self.required(path, "adjustment", raw.adjustment.as_ref())?;
                if !adjustment.is_finite()
                    || (adjustment_type == AdjustmentKind::Exact && adjustment < 0.0)
                {
                    self.invalid(
                        path.key("adjustment"),
                        adjustment.to_string(),
                        "a finite number (not negative for exact_capacity)",
                    );
                }
                ScalingPolicyConfig::Simple {
                    alarm,
                    adjustment_type,
                    adjustment,
                    min_adjustment_magnitude: self.magnitude(path, raw, adjustment_type),
                    cooldown: self.duration(
                        &path.key("cooldown"),
                        raw.cooldown.as_deref(),
                        default_cooldown,
                    ),
                }
            }
            _ => self.predictive(path, raw)?,
        };
        Some(policy)
    }

    fn predictive(
        &mut self,
        path: &KeyPath,
        raw: &RawScalingPolicy,
    ) -> Option<ScalingPolicyConfig> {
        let metric = self.metric(
            &path.key("metric"),
            raw.metric.as_deref().unwrap_or("request_count"),
            &[ScalingMetric::RequestCount],
        );
        let target = self.positive_number(path, "target", raw.target)?;
        let forecast_and_scale = match raw.mode.as_deref().unwrap_or("forecast_only") {
            "forecast_only" => false,
            "forecast_and_scale" => true,
            other => {
                self.invalid(
                    path.key("mode"),
                    format!("\"{other}\""),
                    "\"forecast_only\" or \"forecast_and_scale\"",
                );
                false
            }
        };
        let scheduling_buffer = self.duration(
            &path.key("scheduling_buffer"),
            raw.scheduling_buffer.as_deref(),
            DEFAULT_SCHEDULING_BUFFER,
        );
        if scheduling_buffer >= Duration::from_secs(3600) {
            self.invalid(
                path.key("scheduling_buffer"),
                format!("{scheduling_buffer:?}"),
                "less than an hour",
            );
        }
        let increase_max_by = match raw.max_capacity_breach.as_deref().unwrap_or("honor") {
            "honor" => {
                if raw.max_capacity_buffer.is_some() {
                    self.invalid(
                        path.key("max_capacity_buffer"),
                        "a buffer with \"honor\"",
                        "max_capacity_breach = \"increase\"",
                    );
                }
                None
            }
            "increase" => {
                let buffer = raw.max_capacity_buffer.unwrap_or(0.0);
                if !(0.0..=100.0).contains(&buffer) {
                    self.invalid(
                        path.key("max_capacity_buffer"),
                        buffer.to_string(),
                        "a percentage from 0 to 100",
                    );
                }
                Some(buffer.clamp(0.0, 100.0))
            }
            other => {
                self.invalid(
                    path.key("max_capacity_breach"),
                    format!("\"{other}\""),
                    "\"honor\" or \"increase\"",
                );
                None
            }
        };
        Some(ScalingPolicyConfig::Predictive {
            metric,
            target,
            forecast_and_scale,
            scheduling_buffer,
            increase_max_by,
        })
    }

    fn adjustment_type(&mut self, path: &KeyPath, raw: Option<&str>) -> Option<AdjustmentKind> {
        match self.required(path, "adjustment_type", raw)? {
            "change_in_capacity" => Some(AdjustmentKind::Change),
            "exact_capacity" => Some(AdjustmentKind::Exact),
            "percent_change_in_capacity" => Some(AdjustmentKind::Percent),
            other => {
                self.invalid(
                    path.key("adjustment_type"),
                    format!("\"{other}\""),
                    "\"change_in_capacity\", \"exact_capacity\" or \"percent_change_in_capacity\"",
                );
                None
            }
        }
    }

    /// `min_adjustment_magnitude`: only with percentages.
    fn magnitude(&mut self, path: &KeyPath, raw: &RawScalingPolicy, kind: AdjustmentKind) -> u32 {
        if raw.min_adjustment_magnitude.is_some() && kind != AdjustmentKind::Percent {
            self.invalid(
                path.key("min_adjustment_magnitude"),
                "min_adjustment_magnitude without percentages",
                "adjustment_type = \"percent_change_in_capacity\"",
            );
        }
        self.capacity(
            &path.key("min_adjustment_magnitude"),
            raw.min_adjustment_magnitude,
            0,
        )
    }

    /// `value`, or an error at `key` when this kind of policy needs it and it is absent.
    fn required<'a, T: ?Sized>(
        &mut self,
        path: &KeyPath,
        key: &str,
        value: Option<&'a T>,
    ) -> Option<&'a T> {
        if value.is_none() {
            self.invalid(
                path.key(key),
                "nothing",
                format!("{key}: this kind of policy needs it"),
            );
        }
        value
    }

    fn positive_number(&mut self, path: &KeyPath, key: &str, value: Option<f64>) -> Option<f64> {
        let n = *self.required(path, key, value.as_ref())?;
        if !(n.is_finite() && n > 0.0) {
            self.invalid(path.key(key), n.to_string(), "a number greater than zero");
            return None;
        }
        Some(n)
    }
}
