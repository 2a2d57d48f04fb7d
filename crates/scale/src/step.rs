//! Step scaling and simple scaling: an alarm on a metric, and how much to change capacity
//! while it is in alarm. Step policies pick the change by how far the metric is past the
//! threshold and act at every evaluation; simple policies make one change, then wait for
//! it to finish and for their cooldown.

use std::time::Duration;

use crate::alarm::{Alarm, AlarmState};
use crate::capacity::Adjustment;
use crate::group::{GroupView, Proposal};

pub use ballast_config::{check_steps, AdjustmentKind, Step, StepError, MAX_STEPS};

/// The adjustment `value` stands for, read as `kind`.
pub fn adjustment(kind: AdjustmentKind, value: f64) -> Adjustment {
    match kind {
        AdjustmentKind::Change => Adjustment::Change(value as i64),
        AdjustmentKind::Exact => Adjustment::Exact(value.max(0.0) as u32),
        AdjustmentKind::Percent => Adjustment::Percent(value),
    }
}

/// Whether `step` holds a metric `distance` past the threshold: above it, the lower bound
/// is inclusive and the upper exclusive; below it, the other way round.
fn contains(step: &Step, distance: f64) -> bool {
    let (lo, hi) = (
        step.lower.unwrap_or(f64::NEG_INFINITY),
        step.upper.unwrap_or(f64::INFINITY),
    );
    if distance >= 0.0 {
        lo <= distance && distance < hi
    } else {
        lo < distance && distance <= hi
    }
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
        let step = self.steps.iter().find(|s| contains(s, distance))?;
        let adjustment = adjustment(self.kind, step.adjustment);
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
