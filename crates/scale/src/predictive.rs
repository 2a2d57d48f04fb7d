//! Predictive scaling: raise the desired capacity ahead of the load the forecast expects, as
//! ASG's predictive scaling does. It never scales in; in `forecast_only` mode it only
//! reports what it would do.

use std::time::Duration;

use jiff::Timestamp;

use crate::capacity::Bounds;
use crate::forecast::{forecast, Forecast};
use crate::group::{GroupView, Proposal};
use crate::history::HourlyHistory;

/// Hours forecast at a time, and how often the forecast is made again (ASG's).
const FORECAST_HOURS: usize = 48;
const FORECAST_EVERY_HOURS: usize = 6;

/// Whether the forecast acts or is only shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forecast only (ASG's default): visible in the API and dashboard, no scaling.
    ForecastOnly,
    /// Forecast and raise the desired capacity ahead of it.
    ForecastAndScale,
}

/// What happens when the forecast capacity is above the group's maximum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxCapacityBreach {
    /// Stay at the maximum (ASG's default).
    Honor,
    /// Raise the maximum to the forecast plus this percentage of it (0–100).
    Increase {
        /// Head room above the forecast, in percent.
        buffer_percent: f64,
    },
}

/// A predictive policy's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Predictive {
    /// The load one instance should carry (in the history's unit, per hour).
    pub target_per_instance: f64,
    /// Act or only forecast.
    pub mode: Mode,
    /// How long before each hour its capacity is put in place (ASG's default: 300 s).
    pub scheduling_buffer: Duration,
    /// Beyond the maximum, or not.
    pub max_capacity_breach: MaxCapacityBreach,
}

/// The capacity each forecast hour needs: its load over the load per instance, rounded up.
pub fn capacity_forecast(forecast: &Forecast, target_per_instance: f64) -> Vec<u32> {
    forecast
        .hourly
        .iter()
        .map(|load| {
            if target_per_instance.is_nan() || target_per_instance <= 0.0 {
                return 0;
            }
            let needed = (load / target_per_instance - 1e-9).ceil();
            if needed >= f64::from(u32::MAX) {
                u32::MAX
            } else {
                needed.max(0.0) as u32
            }
        })
        .collect()
}

/// What the policy does at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictiveStep {
    /// The capacity it would have in place now (the forecast of the hour starting within
    /// the scheduling buffer, or of the current hour).
    pub forecast_capacity: u32,
    /// The maximum to raise to (`MaxCapacityBreach::Increase`), if it must.
    pub raise_max_to: Option<u32>,
    /// The capacity proposed, in `forecast_and_scale` mode when above the desired one.
    pub proposal: Option<Proposal>,
}

impl Predictive {
    /// At `into_hour` past the start of forecast hour 0 (the hour after the history), what
    /// capacity should be in place: the forecast of the current hour, or of the next one
    /// once within the scheduling buffer of it, whichever is larger.
    pub fn step(
        &self,
        capacities: &[u32],
        into_hour: Duration,
        group: &GroupView,
    ) -> Option<PredictiveStep> {
        const HOUR: u64 = 3600;
        let secs = into_hour.as_secs();
        let current = usize::try_from(secs / HOUR).ok()?;
        let until_next = HOUR - secs % HOUR;
        let mut wanted = *capacities.get(current)?;
        if until_next <= self.scheduling_buffer.as_secs() {
            wanted = wanted.max(capacities.get(current + 1).copied().unwrap_or(0));
        }
        let (max, raise_max_to) = match self.max_capacity_breach {
            MaxCapacityBreach::Honor => (group.bounds.max, None),
            MaxCapacityBreach::Increase { buffer_percent } => {
                let percent = buffer_percent.clamp(0.0, 100.0);
                // Less a hair of float error: 50 plus 10% is 55, not 56.
                let room = (f64::from(wanted) * (100.0 + percent) / 100.0 - 1e-9).ceil();
                let room = room.clamp(0.0, f64::from(u32::MAX)) as u32;
                if wanted > group.bounds.max {
                    (room, Some(room))
                } else {
                    (group.bounds.max, None)
                }
            }
        };
        let bounds = Bounds {
            min: group.bounds.min,
            max,
        };
        let target = bounds.clamp(wanted);
        let proposal =
            (self.mode == Mode::ForecastAndScale && target > group.desired).then(|| Proposal {
                desired: target,
                reason: format!(
                "predictive: the forecast load needs {wanted} instances in this hour (desired {})",
                group.desired
            ),
            });
        Some(PredictiveStep {
            forecast_capacity: wanted,
            raise_max_to: raise_max_to.filter(|_| self.mode == Mode::ForecastAndScale),
            proposal,
        })
    }
}

/// A predictive policy with its current forecast.
pub(crate) struct PredictiveRun {
    pub(crate) policy: Predictive,
    /// When forecast hour 0 starts, the forecast and its capacities.
    pub(crate) forecast: Option<(Timestamp, Forecast, Vec<u32>)>,
    pub(crate) hours_since_forecast: usize,
}

impl PredictiveRun {
    /// Makes the forecast again when an hour closed and it is due (every few hours), or
    /// when there is none yet and the history allows one (a day of it: at once when a
    /// stored history was read). Returns the maximum to raise to and the proposal.
    pub(crate) fn tick(
        &mut self,
        now: Timestamp,
        history: &HourlyHistory,
        hour_closed: bool,
        group: &GroupView,
    ) -> (Option<u32>, Option<crate::Proposal>) {
        if hour_closed {
            self.hours_since_forecast += 1;
        }
        let due = self.forecast.is_none() || self.hours_since_forecast >= FORECAST_EVERY_HOURS;
        if due && (hour_closed || self.forecast.is_none()) {
            if let Some(f) = forecast(history.hours(), FORECAST_HOURS) {
                let capacities = capacity_forecast(&f, self.policy.target_per_instance);
                self.forecast = Some((history.ended_at(), f, capacities));
                self.hours_since_forecast = 0;
            }
        }
        let Some((start, _, capacities)) = &self.forecast else {
            return (None, None);
        };
        let into = Duration::from_secs(
            u64::try_from((now.as_second() - start.as_second()).max(0)).unwrap_or(0),
        );
        match self.policy.step(capacities, into, group) {
            Some(step) => (step.raise_max_to, step.proposal),
            None => (None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::Method;

    fn policy(mode: Mode, breach: MaxCapacityBreach) -> Predictive {
        Predictive {
            target_per_instance: 100.0,
            mode,
            scheduling_buffer: Duration::from_secs(300),
            max_capacity_breach: breach,
        }
    }

    fn group(desired: u32, max: u32) -> GroupView {
        GroupView {
            desired,
            warming: 0,
            bounds: Bounds { min: 1, max },
        }
    }

    #[test]
    fn capacity_per_hour_rounds_up() {
        let f = Forecast {
            method: Method::SeasonalNaive,
            hourly: vec![0.0, 100.0, 101.0, 250.0],
        };
        assert_eq!(capacity_forecast(&f, 100.0), vec![0, 1, 2, 3]);
        assert_eq!(capacity_forecast(&f, 0.0), vec![0, 0, 0, 0]);
    }

    #[test]
    fn the_next_hours_capacity_comes_within_the_buffer_and_never_less() {
        let p = policy(Mode::ForecastAndScale, MaxCapacityBreach::Honor);
        let caps = [3, 6, 2];
        let at = Duration::from_secs;
        let g = group(2, 10);
        assert_eq!(
            p.step(&caps, at(0), &g).unwrap().proposal.unwrap().desired,
            3
        );
        assert_eq!(p.step(&caps, at(3299), &g).unwrap().forecast_capacity, 3);
        assert_eq!(
            p.step(&caps, at(3300), &g).unwrap().forecast_capacity,
            6,
            "5 minutes early"
        );
        // Hour 2 needs less: no scale-in from the forecast.
        assert_eq!(
            p.step(&caps, at(7300), &group(6, 10)).unwrap().proposal,
            None
        );
        assert_eq!(p.step(&caps, at(3 * 3600), &g), None, "past the forecast");
    }

    #[test]
    fn the_maximum_is_honoured_or_raised_with_a_buffer() {
        let caps = [50];
        let g = group(10, 40);
        let honor = policy(Mode::ForecastAndScale, MaxCapacityBreach::Honor);
        let step = honor.step(&caps, Duration::ZERO, &g).unwrap();
        assert_eq!(step.proposal.unwrap().desired, 40);
        assert_eq!(step.raise_max_to, None);
        // ASG's example: forecast 50, buffer 10% → maximum 55.
        let raise = policy(
            Mode::ForecastAndScale,
            MaxCapacityBreach::Increase {
                buffer_percent: 10.0,
            },
        );
        let step = raise.step(&caps, Duration::ZERO, &g).unwrap();
        assert_eq!(step.raise_max_to, Some(55));
        assert_eq!(step.proposal.unwrap().desired, 50);
    }

    #[test]
    fn forecast_only_proposes_nothing() {
        let p = policy(
            Mode::ForecastOnly,
            MaxCapacityBreach::Increase {
                buffer_percent: 10.0,
            },
        );
        let step = p.step(&[50], Duration::ZERO, &group(10, 40)).unwrap();
        assert_eq!(step.forecast_capacity, 50);
        assert_eq!(step.proposal, None);
        assert_eq!(step.raise_max_to, None);
    }
}
