//! One scaling group's policies and scheduled actions together, fed one [`Sample`] per
//! sample interval: the loop both the running process and the simulator drive, so the
//! simulator runs exactly the code that scales. Pure: time and samples come in, activities
//! (new desired capacity and bounds, with their cause and reason) go out.

use std::time::Duration;

use ballast_config::{ScalingGroupConfig, ScalingPolicyConfig, Statistic};
use jiff::Timestamp;

use crate::alarm::Alarm;
use crate::capacity::Bounds;
use crate::combine::{combine, Offer, Role};
use crate::forecast::Forecast;
use crate::history::HourlyHistory;
use crate::predictive::{MaxCapacityBreach, Mode, Predictive, PredictiveRun};
use crate::sample::{Periods, Sample};
use crate::schedule::{ScheduleError, ScheduledAction, Sizes};
use crate::step::{adjustment, SimplePolicy, StepPolicy};
use crate::target_tracking::{Datapoint, TargetTracking, TargetTrackingPolicy};
use crate::GroupView;

/// A change the scaler made.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// When.
    pub at: Timestamp,
    /// The policy or scheduled action that caused it (`policies[0] target_tracking`).
    pub cause: String,
    /// The desired capacity after it.
    pub desired: u32,
    /// The bounds after it.
    pub bounds: Bounds,
    /// The numbers it saw and the rule that decided.
    pub reason: String,
}

enum Policy {
    Tracking(TargetTrackingPolicy, Periods),
    Step(StepPolicy, Periods),
    Simple(SimplePolicy, Periods),
    Predictive(Box<PredictiveRun>),
}

/// The scaler of one group.
pub struct Scaler {
    /// Processes an operator suspended: scheduled actions and policies obey theirs.
    pub suspended: crate::suspend::Suspended,
    bounds: Bounds,
    /// Each policy's name, state and settings.
    policies: Vec<(String, Policy, ScalingPolicyConfig)>,
    schedule: Vec<(ScheduledAction, Option<Timestamp>)>,
    origin: Timestamp,
    history: HourlyHistory,
}

impl Scaler {
    /// The scaler of `config`, starting at `start`.
    pub fn new(config: &ScalingGroupConfig, start: Timestamp) -> Result<Self, ScheduleError> {
        let policies = config
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| (describe(i, p), policy(p), p.clone()))
            .collect();
        let mut schedule = Vec::new();
        for action in &config.scheduled_actions {
            let time = |t: &Option<String>| t.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
            let sizes = Sizes {
                min: action.min,
                max: action.max,
                desired: action.desired,
            };
            let action = ScheduledAction::new(
                &action.name,
                action.recurrence.as_deref(),
                Some(&action.time_zone),
                (time(&action.start), time(&action.end)),
                sizes,
            )?;
            let next = action.next_after(start - jiff::SignedDuration::from_secs(1));
            schedule.push((action, next));
        }
        Ok(Self {
            suspended: crate::suspend::Suspended::default(),
            bounds: Bounds {
                min: config.min,
                max: config.max,
            },
            policies,
            schedule,
            origin: start,
            history: HourlyHistory::new(start),
        })
    }

    /// The group's bounds now (scheduled actions and predictive scaling change them).
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Takes over what still applies of `old`, the scaler this one replaces after a reload
    /// of the group's settings: the policies whose settings are unchanged keep their
    /// periods, alarm states, cooldowns and forecast; the load history, the suspended
    /// processes and the clock carry over. Bounds and scheduled actions are the new
    /// configuration's.
    pub fn carry_over(&mut self, old: Scaler) {
        self.origin = old.origin;
        self.history = old.history;
        self.suspended = old.suspended;
        let mut before = old.policies;
        for (_, policy, settings) in &mut self.policies {
            if let Some(at) = before.iter().position(|(_, _, s)| s == settings) {
                *policy = before.remove(at).1;
            }
        }
    }

    /// The group's hourly load history.
    pub fn history(&self) -> &HourlyHistory {
        &self.history
    }

    /// Takes over `history` (read from its file, or the one of the scaler this one
    /// replaces after a reload) in place of the one it started with.
    pub fn set_history(&mut self, history: HourlyHistory) {
        self.history = history;
    }

    /// The predictive policy's mode, when the group has one.
    pub fn predictive_mode(&self) -> Option<Mode> {
        self.policies.iter().find_map(|(_, p, _)| match p {
            Policy::Predictive(run) => Some(run.policy.mode),
            _ => None,
        })
    }

    /// The forecast of the predictive policy, if one has been made: when its hour 0
    /// starts, and the capacity of each hour.
    pub fn forecast(&self) -> Option<(Timestamp, &Forecast, &[u32])> {
        self.policies.iter().find_map(|(_, p, _)| match p {
            Policy::Predictive(run) => run
                .forecast
                .as_ref()
                .map(|(at, f, c)| (*at, f, c.as_slice())),
            _ => None,
        })
    }

    /// The sample interval that ended at `now`, with the group's `desired` capacity and the
    /// instances still `warming`. Runs the scheduled actions that are due, then every policy
    /// whose period closed, and returns what changed.
    pub fn tick(
        &mut self,
        now: Timestamp,
        sample: &Sample,
        desired: u32,
        warming: u32,
    ) -> Vec<Activity> {
        let mut activities = Vec::new();
        let mut desired = desired;
        for (action, next) in &mut self.schedule {
            while let Some(at) = next.filter(|at| *at <= now) {
                if self.suspended.scheduled_actions {
                    // Skipped, not made up for on resume (as ASG).
                    *next = action.next_after(at);
                    continue;
                }
                let (bounds, after) = action.apply(self.bounds, desired);
                self.bounds = bounds;
                desired = after;
                activities.push(Activity {
                    at: now,
                    cause: format!("scheduled action {}", action.name),
                    desired,
                    bounds,
                    reason: format!(
                        "due at {at}: min {}, max {}, desired {desired}",
                        bounds.min, bounds.max
                    ),
                });
                *next = action.next_after(at);
            }
        }
        let group = GroupView {
            desired,
            warming,
            bounds: self.bounds,
        };
        let elapsed = Duration::from_secs(
            u64::try_from((now.as_second() - self.origin.as_second()).max(0)).unwrap_or(0),
        );
        let hour_closed = self.history.push(now, sample.requests);
        let mut offers = Vec::new();
        let mut names = Vec::new();
        for (name, policy, _) in &mut self.policies {
            let (role, proposal) = match policy {
                Policy::Tracking(p, minutes) => {
                    if !minutes.push(sample) {
                        continue;
                    }
                    let point = minutes
                        .points()
                        .last()
                        .copied()
                        .flatten()
                        .map(|value| Datapoint {
                            value,
                            over: Some(sample.serving),
                        });
                    let role = Role::TargetTracking {
                        scales_in: p.scales_in(),
                    };
                    (role, p.observe(point, &group))
                }
                Policy::Step(p, periods) => {
                    if !periods.push(sample) {
                        continue;
                    }
                    (Role::Other, p.evaluate(periods.points(), &group))
                }
                Policy::Simple(p, periods) => {
                    if !periods.push(sample) {
                        continue;
                    }
                    (Role::Other, p.evaluate(elapsed, periods.points(), &group))
                }
                Policy::Predictive(run) => {
                    let (raise, proposal) = run.tick(now, &self.history, hour_closed, &group);
                    if let Some(max) = raise.filter(|m| *m > self.bounds.max) {
                        self.bounds.max = max;
                    }
                    (Role::Other, proposal)
                }
            };
            offers.push(Offer { role, proposal });
            names.push(name.clone());
        }
        let group = GroupView {
            bounds: self.bounds,
            ..group
        };
        if self.suspended.alarm_notification {
            return activities;
        }
        if let Some((i, proposal)) = combine(&group, &offers) {
            activities.push(Activity {
                at: now,
                cause: names[i].clone(),
                desired: proposal.desired,
                bounds: self.bounds,
                reason: proposal.reason,
            });
        }
        activities
    }

    /// The group reached the capacity its last activity asked for (launches in service,
    /// terminations done): simple policies' cooldowns start.
    pub fn activity_settled(&mut self, now: Timestamp) {
        let elapsed = Duration::from_secs(
            u64::try_from((now.as_second() - self.origin.as_second()).max(0)).unwrap_or(0),
        );
        for (_, policy, _) in &mut self.policies {
            if let Policy::Simple(p, _) = policy {
                p.activity_done(elapsed);
            }
        }
    }
}

fn describe(i: usize, p: &ScalingPolicyConfig) -> String {
    let kind = match p {
        ScalingPolicyConfig::TargetTracking { .. } => "target_tracking",
        ScalingPolicyConfig::Step { .. } => "step",
        ScalingPolicyConfig::Simple { .. } => "simple",
        ScalingPolicyConfig::Predictive { .. } => "predictive",
    };
    format!("policies[{i}] {kind}")
}

fn policy(p: &ScalingPolicyConfig) -> Policy {
    let minute = Duration::from_secs(60);
    match p {
        ScalingPolicyConfig::TargetTracking {
            metric,
            target,
            disable_scale_in,
        } => Policy::Tracking(
            TargetTrackingPolicy::new(TargetTracking {
                metric: metric.name().to_owned(),
                target: *target,
                disable_scale_in: *disable_scale_in,
            }),
            Periods::new(*metric, Statistic::Average, minute, 1),
        ),
        ScalingPolicyConfig::Step {
            alarm,
            adjustment_type,
            steps,
            min_adjustment_magnitude,
        } => Policy::Step(
            StepPolicy::new(
                Alarm::from(alarm),
                *adjustment_type,
                steps.clone(),
                *min_adjustment_magnitude,
            ),
            periods(alarm),
        ),
        ScalingPolicyConfig::Simple {
            alarm,
            adjustment_type,
            adjustment: value,
            min_adjustment_magnitude,
            cooldown,
        } => Policy::Simple(
            SimplePolicy::new(
                Alarm::from(alarm),
                adjustment(*adjustment_type, *value),
                *min_adjustment_magnitude,
                *cooldown,
            ),
            periods(alarm),
        ),
        ScalingPolicyConfig::Predictive {
            metric: _,
            target,
            forecast_and_scale,
            scheduling_buffer,
            increase_max_by,
        } => Policy::Predictive(Box::new(PredictiveRun {
            policy: Predictive {
                target_per_instance: *target,
                mode: if *forecast_and_scale {
                    Mode::ForecastAndScale
                } else {
                    Mode::ForecastOnly
                },
                scheduling_buffer: *scheduling_buffer,
                max_capacity_breach: match increase_max_by {
                    Some(buffer_percent) => MaxCapacityBreach::Increase {
                        buffer_percent: *buffer_percent,
                    },
                    None => MaxCapacityBreach::Honor,
                },
            },
            forecast: None,
            hours_since_forecast: 0,
        })),
    }
}

/// An alarm's periods. Samples are 10 s long: a `request_count` alarm wants `sum` for its
/// period's total; the other metrics are levels or rates, read as they are.
fn periods(alarm: &ballast_config::AlarmConfig) -> Periods {
    Periods::new(
        alarm.metric,
        alarm.statistic,
        alarm.period,
        alarm.evaluation_periods as usize,
    )
}

#[cfg(test)]
mod tests;
