//! `[scaling_groups.NAME]` as written.

use serde::{Deserialize, Serialize};

/// A scaling group.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawScalingGroup {
    /// The target group its instances join.
    pub target_group: String,
    /// Fewest instances.
    pub min: i64,
    /// Most instances.
    pub max: i64,
    /// Instances wanted at start; the minimum when absent.
    pub desired: Option<i64>,
    /// `{ process = { ... } }` or `{ command = { ... } }`.
    pub provider: RawProvider,
    /// Failed health checks of a new instance are ignored this long.
    pub health_check_grace_period: Option<String>,
    /// A new instance's metrics are left out this long.
    pub default_instance_warmup: Option<String>,
    /// Cooldown of simple policies that set none.
    pub default_cooldown: Option<String>,
    /// Zones to spread instances over.
    pub zones: Option<Vec<String>>,
    /// Which instance a scale-in terminates, in order of preference.
    pub termination_policy: Option<Vec<String>>,
    /// The file the hourly load history is kept in.
    pub history_file: Option<String>,
    /// The policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<RawScalingPolicy>,
    /// The scheduled actions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduled_actions: Vec<RawScheduledAction>,
}

/// `provider = { ... }`: exactly one of its keys.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    /// Local processes.
    pub process: Option<RawProcessProvider>,
    /// User scripts.
    pub command: Option<RawCommandProvider>,
}

/// `provider = { process = { ... } }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcessProvider {
    /// The command line, with `{port}`, `{name}` and `{zone}`.
    pub command: String,
    /// The ports to hand out: `"9100-9199"`.
    pub ports: String,
    /// Time between SIGTERM and SIGKILL.
    pub stop_timeout: Option<String>,
    /// Folder of the instances' output files.
    pub log_dir: Option<String>,
}

/// `provider = { command = { ... } }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommandProvider {
    /// Launches one instance; prints its address and id as JSON.
    pub launch: String,
    /// Terminates the instance whose id it is given.
    pub terminate: String,
    /// Prints the running instances as JSON.
    pub list: Option<String>,
    /// Time each script may take.
    pub timeout: Option<String>,
}

/// One entry of `policies`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawScalingPolicy {
    /// `target_tracking`, `step`, `simple` or `predictive`.
    pub r#type: String,
    /// The metric of a target tracking or predictive policy.
    pub metric: Option<String>,
    /// Its target value.
    pub target: Option<f64>,
    /// Target tracking: only ever scale out.
    pub disable_scale_in: Option<bool>,
    /// Step and simple policies: the alarm.
    pub alarm: Option<RawAlarm>,
    /// `change_in_capacity`, `exact_capacity` or `percent_change_in_capacity`.
    pub adjustment_type: Option<String>,
    /// Simple policies: the change.
    pub adjustment: Option<f64>,
    /// Step policies: the steps.
    pub steps: Option<Vec<RawStep>>,
    /// Fewest instances a percentage may change.
    pub min_adjustment_magnitude: Option<i64>,
    /// Simple policies: quiet time after their activity.
    pub cooldown: Option<String>,
    /// Predictive: `forecast_only` or `forecast_and_scale`.
    pub mode: Option<String>,
    /// Predictive: how early each hour's capacity is put in place.
    pub scheduling_buffer: Option<String>,
    /// Predictive: `honor` or `increase`.
    pub max_capacity_breach: Option<String>,
    /// Predictive with `increase`: head room over the forecast, in percent.
    pub max_capacity_buffer: Option<f64>,
}

/// `alarm = { ... }` of a step or simple policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlarm {
    /// What it measures.
    pub metric: String,
    /// `average` (default), `sum`, `minimum`, `maximum` or `sample_count`.
    pub statistic: Option<String>,
    /// `>=`, `>`, `<` or `<=`.
    pub comparison: String,
    /// The value compared with.
    pub threshold: f64,
    /// Length of one period.
    pub period: Option<String>,
    /// Periods looked at.
    pub evaluation_periods: Option<i64>,
    /// Breaching periods needed.
    pub datapoints_to_alarm: Option<i64>,
    /// `missing` (default), `breaching`, `not_breaching` or `ignore`.
    pub missing_data: Option<String>,
}

/// One step of a step policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Lower bound of the distance past the threshold.
    pub lower: Option<f64>,
    /// Upper bound.
    pub upper: Option<f64>,
    /// The change.
    pub adjustment: f64,
}

/// One entry of `scheduled_actions`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawScheduledAction {
    /// Unique in the group.
    pub name: String,
    /// A 5-field cron expression.
    pub recurrence: Option<String>,
    /// IANA time zone of the recurrence.
    pub time_zone: Option<String>,
    /// RFC 3339 time of the first (or only) run.
    pub start: Option<String>,
    /// RFC 3339 time after which it stops.
    pub end: Option<String>,
    /// The minimum it sets.
    pub min: Option<i64>,
    /// The maximum it sets.
    pub max: Option<i64>,
    /// The desired capacity it sets.
    pub desired: Option<i64>,
}
