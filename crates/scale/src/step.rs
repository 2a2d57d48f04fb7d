//! Step scaling and simple scaling: an alarm on a metric, and how much to change capacity
//! while it is in alarm. Step policies pick the change by how far the metric is past the
//! threshold and act at every evaluation; simple policies make one change, then wait for
//! it to finish and for their cooldown.

use std::time::Duration;

use crate::alarm::{Alarm, AlarmState};
use crate::capacity::Adjustment;
use crate::group::{GroupView, Proposal};

/// Most steps a policy may have (ASG's limit).
pub const MAX_STEPS: usize = 20;

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

impl AdjustmentKind {
    /// The adjustment `value` stands for.
    pub fn with(self, value: f64) -> Adjustment {
        match self {
            AdjustmentKind::Change => Adjustment::Change(value as i64),
            AdjustmentKind::Exact => Adjustment::Exact(value.max(0.0) as u32),
            AdjustmentKind::Percent => Adjustment::Percent(value),
        }
    }
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

impl Step {
    fn contains(&self, distance: f64) -> bool {
        let (lo, hi) = (
            self.lower.unwrap_or(f64::NEG_INFINITY),
            self.upper.unwrap_or(f64::INFINITY),
        );
        if distance >= 0.0 {
            lo <= distance && distance < hi
        } else {
            lo < distance && distance <= hi
        }
    }
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
    /// A step open at both ends (the index, after sorting for the later variants).
    #[error("step {0} has neither a lower nor an upper bound")]
    Unbounded(usize),
    /// A step whose upper bound is not above its lower one.
    #[error("step {0}: its upper bound is not above its lower bound")]
    Inverted(usize),
    /// Two neighbouring steps (sorted by lower bound) that do not meet.
    #[error("steps {0} and {1} overlap or leave a gap: the upper bound of one must be the lower bound of the next")]
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
    let last = sorted[sorted.len() - 1];
    let first = sorted[0];
    if last.upper.is_some_and(|u| u > 0.0) {
        return Err(StepError::OpenAbove);
    }
    if first.lower.is_some_and(|l| l < 0.0) {
        return Err(StepError::OpenBelow);
    }
    Ok(sorted)
}

/// A step scaling policy.
#[derive(Debug, Clone)]
pub struct StepPolicy {
    /// The alarm it acts on.
    pub alarm: Alarm,
    /// How its steps' numbers read.
    pub kind: AdjustmentKind,
    /// Checked and sorted by [`check_steps`].
    pub steps: Vec<Step>,
    /// Fewest instances a percentage may change.
    pub min_adjustment_magnitude: u32,
    state: AlarmState,
}

impl StepPolicy {
    /// A policy with `steps` already checked by [`check_steps`].
    pub fn new(alarm: Alarm, kind: AdjustmentKind, steps: Vec<Step>, min_magnitude: u32) -> Self {
        Self {
            alarm,
            kind,
            steps,
            min_adjustment_magnitude: min_magnitude,
            state: AlarmState::InsufficientData,
        }
    }

    /// The alarm's state as of the last evaluation.
    pub fn state(&self) -> AlarmState {
        self.state
    }

    /// Evaluates the alarm over `periods` (datapoints, oldest first) and, in alarm,
    /// proposes the capacity of the step the latest datapoint falls in.
    pub fn evaluate(&mut self, periods: &[Option<f64>], group: &GroupView) -> Option<Proposal> {
        self.state = self.alarm.evaluate(periods, self.state);
        if self.state != AlarmState::Alarm {
            return None;
        }
        let latest = periods.iter().rev().find_map(|p| *p)?;
        let distance = latest - self.alarm.threshold;
        let step = self.steps.iter().find(|s| s.contains(distance))?;
        let adjustment = self.kind.with(step.adjustment);
        let reason = format!(
            "alarm: metric {latest:.2} against threshold {}: step adjustment {}",
            self.alarm.threshold, step.adjustment
        );
        propose(adjustment, self.min_adjustment_magnitude, group, reason)
    }
}

/// The capacity `adjustment` leads to. A scale-out counts from the ready instances, so
/// instances still warming from the same breach are not added again; a scale-in waits
/// until no instance is warming.
fn propose(
    adjustment: Adjustment,
    min_magnitude: u32,
    group: &GroupView,
    reason: String,
) -> Option<Proposal> {
    let from_ready = adjustment.apply(group.ready(), min_magnitude, group.bounds);
    if from_ready > group.desired {
        return Some(Proposal {
            desired: from_ready,
            reason,
        });
    }
    let from_desired = adjustment.apply(group.desired, min_magnitude, group.bounds);
    if from_desired < group.desired && group.warming == 0 {
        return Some(Proposal {
            desired: from_desired,
            reason,
        });
    }
    None
}

/// A simple scaling policy: one adjustment while in alarm, then quiet until the activity
/// it caused is over and its cooldown (default 300 s) has passed.
#[derive(Debug, Clone)]
pub struct SimplePolicy {
    /// The alarm it acts on.
    pub alarm: Alarm,
    /// The change it makes.
    pub adjustment: Adjustment,
    /// Fewest instances a percentage may change.
    pub min_adjustment_magnitude: u32,
    /// Quiet time after its activity ended.
    pub cooldown: Duration,
    state: AlarmState,
    /// Waiting for the activity it caused to end.
    busy: bool,
    /// Quiet until then (time since the scaler's origin).
    cooldown_until: Duration,
}

impl SimplePolicy {
    /// A policy that has not acted yet.
    pub fn new(
        alarm: Alarm,
        adjustment: Adjustment,
        min_magnitude: u32,
        cooldown: Duration,
    ) -> Self {
        Self {
            alarm,
            adjustment,
            min_adjustment_magnitude: min_magnitude,
            cooldown,
            state: AlarmState::InsufficientData,
            busy: false,
            cooldown_until: Duration::ZERO,
        }
    }

    /// Evaluates the alarm at `now`; in alarm and not cooling down, proposes the adjusted
    /// capacity and waits for [`SimplePolicy::activity_done`].
    pub fn evaluate(
        &mut self,
        now: Duration,
        periods: &[Option<f64>],
        group: &GroupView,
    ) -> Option<Proposal> {
        self.state = self.alarm.evaluate(periods, self.state);
        if self.busy || now < self.cooldown_until || self.state != AlarmState::Alarm {
            return None;
        }
        let reason = format!(
            "alarm on threshold {}: adjustment {:?}",
            self.alarm.threshold, self.adjustment
        );
        let proposal = propose(
            self.adjustment,
            self.min_adjustment_magnitude,
            group,
            reason,
        )?;
        self.busy = true;
        Some(proposal)
    }

    /// The activity of the last proposal ended at `now` (or the proposal was not acted
    /// on): the cooldown starts.
    pub fn activity_done(&mut self, now: Duration) {
        if self.busy {
            self.busy = false;
            self.cooldown_until = now + self.cooldown;
        }
    }
}

#[cfg(test)]
mod tests;
