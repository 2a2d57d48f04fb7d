//! The typed settings of scaling groups (`[scaling_groups.NAME]`), and the vocabulary their
//! policies share with `ballast-scale`, which acts on them: statistics, comparisons, missing
//! data, adjustment types and steps (with ASG's rules for steps, checked here so `ballast
//! check` names the key).

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::GroupName;

/// Most instances a scaling group may have.
pub const MAX_SCALING_CAPACITY: u32 = 1000;
/// Most steps a step policy may have (ASG's limit).
pub const MAX_STEPS: usize = 20;

/// One scaling group.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingGroupConfig {
    /// Its name.
    pub name: Arc<str>,
    /// The target group its instances are registered in.
    pub target_group: GroupName,
    /// Fewest instances.
    pub min: u32,
    /// Most instances.
    pub max: u32,
    /// Instances wanted at start (the minimum when not given, as ASG).
    pub desired: u32,
    /// How instances are launched and terminated.
    pub provider: ProviderConfig,
    /// Health-check failures of a new instance are ignored this long.
    pub health_check_grace_period: Duration,
    /// A new instance's metrics are left out this long (0: no warm-up).
    pub default_instance_warmup: Duration,
    /// The cooldown of simple policies that set none.
    pub default_cooldown: Duration,
    /// Zones to spread instances over (empty: none).
    pub zones: Vec<Arc<str>>,
    /// Which instance a scale-in terminates, in order of preference.
    pub termination_policy: Vec<TerminationPolicy>,
    /// The file its hourly load history is kept in across restarts.
    pub history_file: PathBuf,
    /// Its policies.
    pub policies: Vec<ScalingPolicyConfig>,
    /// Its scheduled actions.
    pub scheduled_actions: Vec<ScheduledActionConfig>,
}

/// How a group's instances are launched and terminated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderConfig {
    /// Local processes Ballast starts itself.
    Process {
        /// The command line, with `{port}`, `{name}` and `{zone}` filled in.
        command: String,
        /// Ports given to instances.
        ports: RangeInclusive<u16>,
        /// Time between SIGTERM and SIGKILL.
        stop_timeout: Duration,
        /// Folder of the instances' stdout and stderr (one file each).
        log_dir: Option<PathBuf>,
    },
    /// User scripts for launch, terminate and list.
    Command {
        /// Prints the new instance's address and id as JSON.
        launch: String,
        /// Takes the instance id.
        terminate: String,
        /// Prints the running instances as JSON, so a restart finds them.
        list: Option<String>,
        /// Time each script may take.
        timeout: Duration,
    },
}

/// Which instance a scale-in picks (after balancing zones, which always comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminationPolicy {
    /// ASG's `Default`: oldest launch settings, then oldest instance.
    Default,
    /// Instances launched with older provider settings first.
    OldestLaunch,
    /// The instance launched first.
    OldestInstance,
    /// The instance launched last.
    NewestInstance,
}

/// What a policy measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalingMetric {
    /// Requests per target per minute.
    RequestCountPerTarget,
    /// Mean CPU use of the instances, in percent.
    AverageCpu,
    /// Mean time to a target's response head, in milliseconds.
    TargetResponseTime,
    /// Open connections per target.
    ActiveConnectionsPerTarget,
    /// Requests to the group per hour (the load of predictive policies).
    RequestCount,
}

impl ScalingMetric {
    /// Its name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Self::RequestCountPerTarget => "request_count_per_target",
            Self::AverageCpu => "average_cpu",
            Self::TargetResponseTime => "target_response_time",
            Self::ActiveConnectionsPerTarget => "active_connections_per_target",
            Self::RequestCount => "request_count",
        }
    }

    /// Every metric, for parsing.
    pub const ALL: [ScalingMetric; 5] = [
        Self::RequestCountPerTarget,
        Self::AverageCpu,
        Self::TargetResponseTime,
        Self::ActiveConnectionsPerTarget,
        Self::RequestCount,
    ];
}

/// One policy.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalingPolicyConfig {
    /// Hold a metric at a target.
    TargetTracking {
        /// The metric (per instance).
        metric: ScalingMetric,
        /// Its target value.
        target: f64,
        /// Only ever scale out.
        disable_scale_in: bool,
    },
    /// Steps by distance past an alarm's threshold.
    Step {
        /// The alarm.
        alarm: AlarmConfig,
        /// How the steps' numbers read.
        adjustment_type: AdjustmentKind,
        /// The steps, sorted by lower bound.
        steps: Vec<Step>,
        /// Fewest instances a percentage may change.
        min_adjustment_magnitude: u32,
    },
    /// One change per alarm, then a cooldown.
    Simple {
        /// The alarm.
        alarm: AlarmConfig,
        /// How `adjustment` reads.
        adjustment_type: AdjustmentKind,
        /// The change.
        adjustment: f64,
        /// Fewest instances a percentage may change.
        min_adjustment_magnitude: u32,
        /// Quiet time after its activity (the group's `default_cooldown` when not given).
        cooldown: Duration,
    },
    /// Capacity ahead of the forecast load.
    Predictive {
        /// The load metric (`request_count`).
        metric: ScalingMetric,
        /// Load one instance carries, per hour.
        target: f64,
        /// Scale, or only forecast.
        forecast_and_scale: bool,
        /// How early each hour's capacity is put in place.
        scheduling_buffer: Duration,
        /// `None`: honour the maximum; `Some(p)`: raise it to the forecast plus p percent.
        increase_max_by: Option<f64>,
    },
}

/// An alarm on a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmConfig {
    /// What it measures.
    pub metric: ScalingMetric,
    /// How each period's samples become its datapoint.
    pub statistic: Statistic,
    /// What counts as a breach.
    pub comparison: Comparison,
    /// The value datapoints are compared with.
    pub threshold: f64,
    /// Length of one period.
    pub period: Duration,
    /// N: periods looked at.
    pub evaluation_periods: u32,
    /// M: breaching periods needed.
    pub datapoints_to_alarm: u32,
    /// What a period without data counts as.
    pub missing_data: MissingData,
}

/// How one period's samples become its datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// The mean of the samples.
    Average,
    /// Their sum.
    Sum,
    /// The smallest.
    Minimum,
    /// The largest.
    Maximum,
    /// How many there are.
    SampleCount,
}

/// How a datapoint is compared with the threshold: a breach when it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `>=`
    GreaterOrEqual,
    /// `>`
    Greater,
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
}

/// What a period with no datapoint counts as (CloudWatch's `TreatMissingData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingData {
    /// Skipped: the window reaches further back (the default).
    Missing,
    /// As a breach.
    Breaching,
    /// As within the threshold.
    NotBreaching,
    /// Keeps the alarm's state.
    Ignore,
}

/// How a step's (or simple policy's) number changes capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustmentKind {
    /// `change_in_capacity`: instances to add (negative: remove).
    Change,
    /// `exact_capacity`: the capacity to set.
    Exact,
    /// `percent_change_in_capacity`: a percentage of the current capacity.
    Percent,
}

/// One step: while the metric's distance from the threshold lies within `[lower, upper)`
/// (above the threshold) or `(lower, upper]` (below it), adjust by `adjustment`. A missing
/// bound is infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Lower bound of the distance past the threshold (`None`: −∞).
    pub lower: Option<f64>,
    /// Upper bound (`None`: +∞).
    pub upper: Option<f64>,
    /// The change, read as the policy's [`AdjustmentKind`] says.
    pub adjustment: f64,
}

/// A scheduled action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledActionConfig {
    /// Its name, unique in its group.
    pub name: String,
    /// A 5-field cron expression; `None`: once, at `start`.
    pub recurrence: Option<String>,
    /// The IANA time zone of the recurrence.
    pub time_zone: String,
    /// RFC 3339 time of the first run (or the only one).
    pub start: Option<String>,
    /// RFC 3339 time after which it no longer runs.
    pub end: Option<String>,
    /// The minimum it sets.
    pub min: Option<u32>,
    /// The maximum it sets.
    pub max: Option<u32>,
    /// The desired capacity it sets.
    pub desired: Option<u32>,
}

/// Why a list of steps is refused (ASG's rules).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// The list is empty.
    #[error("no steps")]
    Empty,
    /// Over [`MAX_STEPS`].
    #[error("more than {MAX_STEPS} steps")]
    TooMany,
    /// A step open at both ends (its index as written).
    #[error("step {0} has neither a lower nor an upper bound")]
    Unbounded(usize),
    /// A step whose upper bound is not above its lower one (its index as written).
    #[error("step {0}: its upper bound is not above its lower bound")]
    Inverted(usize),
    /// Two neighbouring steps (sorted by lower bound) that do not meet.
    #[error("steps {0} and {1} (by lower bound) overlap or leave a gap: the upper bound of one must be the lower bound of the next")]
    NotContiguous(usize, usize),
    /// The steps stop at a positive upper bound.
    #[error("steps reach above the threshold, so one must have no upper bound")]
    OpenAbove,
    /// The steps stop at a negative lower bound.
    #[error("steps reach below the threshold, so one must have no lower bound")]
    OpenBelow,
}

/// Checks `steps` (in any order) as ASG does; returns them sorted by lower bound.
pub fn check_steps(steps: &[Step]) -> Result<Vec<Step>, StepError> {
    if steps.is_empty() {
        return Err(StepError::Empty);
    }
    if steps.len() > MAX_STEPS {
        return Err(StepError::TooMany);
    }
    for (i, s) in steps.iter().enumerate() {
        match (s.lower, s.upper) {
            (None, None) => return Err(StepError::Unbounded(i)),
            (Some(lo), Some(hi)) if hi <= lo => return Err(StepError::Inverted(i)),
            _ => {}
        }
    }
    let mut sorted = steps.to_vec();
    sorted.sort_by(|a, b| {
        let key = |s: &Step| s.lower.unwrap_or(f64::NEG_INFINITY);
        key(a).total_cmp(&key(b))
    });
    for (i, pair) in sorted.windows(2).enumerate() {
        if pair[0].upper != pair[1].lower {
            return Err(StepError::NotContiguous(i, i + 1));
        }
    }
    if sorted[sorted.len() - 1].upper.is_some_and(|u| u > 0.0) {
        return Err(StepError::OpenAbove);
    }
    if sorted[0].lower.is_some_and(|l| l < 0.0) {
        return Err(StepError::OpenBelow);
    }
    Ok(sorted)
}
