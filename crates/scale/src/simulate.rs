//! The simulator's world: a load over time, instances that take a while to launch, and the
//! group's real [`Scaler`] deciding, all in virtual time, with no process and no socket. What
//! `ballast scale simulate` runs, and what the charts of docs/autoscaling.md are made of.

use std::time::Duration;

use ballast_config::{ScalingGroupConfig, TerminationPolicy};
use jiff::{SignedDuration, Timestamp};

use crate::sample::{Sample, SAMPLE};
use crate::scaler::{Activity, Scaler};
use crate::schedule::ScheduleError;

/// Load over time, in requests per minute.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// `from`, then `to` from `at` on.
    Step {
        /// Load before.
        from: f64,
        /// Load after.
        to: f64,
        /// When it steps.
        at: Duration,
    },
    /// From `from` to `to` evenly over `over`, then `to`.
    Ramp {
        /// Load at the start.
        from: f64,
        /// Load at the end and after.
        to: f64,
        /// Length of the ramp.
        over: Duration,
    },
    /// Between `low` and `high` and back every `period` (a day's curve, lowest at the start).
    Sine {
        /// Lowest load.
        low: f64,
        /// Highest load.
        high: f64,
        /// Length of one cycle.
        period: Duration,
    },
    /// `base`, with `peak` from `at` for `length`.
    Spike {
        /// Load outside the spike.
        base: f64,
        /// Load during it.
        peak: f64,
        /// When it starts.
        at: Duration,
        /// How long it lasts.
        length: Duration,
    },
    /// One value per minute (a recorded trace); the last holds after its end.
    Trace(Vec<f64>),
}

impl Load {
    /// The load at `t` after the start.
    pub fn at(&self, t: Duration) -> f64 {
        let v = match self {
            Load::Step { from, to, at } => {
                if t >= *at {
                    *to
                } else {
                    *from
                }
            }
            Load::Ramp { from, to, over } => {
                let f = if over.is_zero() {
                    1.0
                } else {
                    (t.as_secs_f64() / over.as_secs_f64()).min(1.0)
                };
                from + (to - from) * f
            }
            Load::Sine { low, high, period } => {
                let phase = t.as_secs_f64() / period.as_secs_f64().max(1.0) * std::f64::consts::TAU;
                low + (high - low) * (1.0 - phase.cos()) / 2.0
            }
            Load::Spike {
                base,
                peak,
                at,
                length,
            } => {
                if t >= *at && t < *at + *length {
                    *peak
                } else {
                    *base
                }
            }
            Load::Trace(minutes) => {
                let i = (t.as_secs() / 60) as usize;
                minutes.get(i).or(minutes.last()).copied().unwrap_or(0.0)
            }
        };
        v.max(0.0)
    }
}

/// How instances behave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct World {
    /// From launch to in service (boot and the first passing health checks).
    pub launch_time: Duration,
    /// Requests per minute one instance serves at 100% CPU.
    pub instance_capacity: f64,
    /// Response time of an idle instance, in milliseconds; it grows as `1 / (1 − load)`.
    pub base_response_ms: f64,
}

impl Default for World {
    fn default() -> Self {
        Self {
            launch_time: Duration::from_secs(60),
            instance_capacity: 1000.0,
            base_response_ms: 20.0,
        }
    }
}

/// One minute of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Minute {
    /// The minute's end.
    pub at: Timestamp,
    /// The load, in requests per minute.
    pub load: f64,
    /// Desired capacity.
    pub desired: u32,
    /// Instances serving.
    pub in_service: u32,
    /// Bounds at that time.
    pub min: u32,
    /// Bounds at that time.
    pub max: u32,
    /// Mean CPU of the serving instances, percent (0 with none).
    pub cpu: f64,
    /// The predictive forecast's capacity for this hour, once there is one.
    pub forecast: Option<u32>,
}

struct Instance {
    launched: Timestamp,
    in_service_at: Timestamp,
    warm_at: Timestamp,
}

/// Runs `config`'s policies against `load` for `duration` from `start`; every minute and
/// every activity.
pub fn simulate(
    config: &ScalingGroupConfig,
    load: &Load,
    world: &World,
    start: Timestamp,
    duration: Duration,
) -> Result<(Vec<Minute>, Vec<Activity>), ScheduleError> {
    let mut scaler = Scaler::new(config, start)?;
    let warmup = signed(config.default_instance_warmup);
    let launch = signed(world.launch_time);
    let mut instances: Vec<Instance> = (0..config.desired)
        .map(|_| Instance {
            launched: start,
            in_service_at: start,
            warm_at: start,
        })
        .collect();
    let (mut minutes, mut activities) = (Vec::new(), Vec::new());
    let mut settling = false;
    let ticks = duration.as_secs() / SAMPLE.as_secs();
    for tick in 1..=ticks {
        let t = Duration::from_secs(tick * SAMPLE.as_secs());
        let now = start + signed(t);
        let per_minute = load.at(t);
        let in_service = instances.iter().filter(|i| i.in_service_at <= now).count() as u32;
        let ready = instances.iter().filter(|i| i.warm_at <= now).count() as u32;
        let rho = if in_service == 0 {
            1.0
        } else {
            per_minute / f64::from(in_service) / world.instance_capacity.max(1e-9)
        };
        let serving = in_service > 0;
        let response = world.base_response_ms / (1.0 - rho.min(0.95));
        let sample = Sample {
            requests: per_minute * SAMPLE.as_secs_f64() / 60.0,
            serving: in_service,
            cpu: serving.then(|| (rho * 100.0).min(100.0)),
            response_time_ms: serving.then_some(response),
            connections: serving.then(|| per_minute / 60.0 * response / 1000.0),
        };
        let desired = instances.len() as u32;
        for activity in scaler.tick(now, &sample, desired, desired - ready) {
            resize(
                &mut instances,
                activity.desired,
                now,
                (launch, warmup),
                config.termination_policy.first().copied(),
            );
            activities.push(activity);
            settling = true;
        }
        if settling && instances.iter().all(|i| i.in_service_at <= now) {
            scaler.activity_settled(now);
            settling = false;
        }
        if tick % (60 / SAMPLE.as_secs()) == 0 {
            let bounds = scaler.bounds();
            let forecast = scaler.forecast().and_then(|(from, _, capacities)| {
                let hour = (now.as_second() - from.as_second()).max(0) / 3600;
                capacities.get(usize::try_from(hour).ok()?).copied()
            });
            minutes.push(Minute {
                at: now,
                load: per_minute,
                desired: instances.len() as u32,
                in_service,
                min: bounds.min,
                max: bounds.max,
                cpu: sample.cpu.unwrap_or(0.0),
                forecast,
            });
        }
    }
    Ok((minutes, activities))
}

/// Launches or terminates to reach `desired`. A scale-in takes instances still launching
/// first (they serve nobody yet), then as the termination policy says.
fn resize(
    instances: &mut Vec<Instance>,
    desired: u32,
    now: Timestamp,
    (launch, warmup): (SignedDuration, SignedDuration),
    policy: Option<TerminationPolicy>,
) {
    while (instances.len() as u32) < desired {
        instances.push(Instance {
            launched: now,
            in_service_at: now + launch,
            warm_at: now + launch + warmup,
        });
    }
    while instances.len() as u32 > desired {
        let pending = instances.iter().position(|i| i.in_service_at > now);
        let pick = pending.unwrap_or_else(|| {
            let by_age = instances
                .iter()
                .enumerate()
                .map(|(i, inst)| (inst.launched, i));
            match policy {
                Some(TerminationPolicy::NewestInstance) => by_age.max().map_or(0, |(_, i)| i),
                _ => by_age.min().map_or(0, |(_, i)| i),
            }
        });
        instances.remove(pick);
    }
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

#[cfg(test)]
mod tests;
