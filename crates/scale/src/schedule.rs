//! Scheduled actions: set a group's minimum, maximum and desired capacity at given times,
//! once or on a cron recurrence in an IANA time zone, as ASG's scheduled actions do. Daylight
//! saving follows Vixie cron: a time the clock skips runs right after the jump, a time it
//! repeats runs once.

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::capacity::Bounds;

/// Why a scheduled action is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The recurrence is not a 5-field cron expression.
    #[error("recurrence {pattern:?}: {reason}")]
    Recurrence {
        /// As written.
        pattern: String,
        /// The parser's words.
        reason: String,
    },
    /// The time zone is not an IANA name jiff knows.
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    /// Neither a recurrence nor a start time: it would never run.
    #[error("neither a recurrence nor a start time")]
    Never,
    /// It sets none of min, max and desired.
    #[error("sets none of min, max and desired")]
    Empty,
    /// `min` above `max`.
    #[error("min {min} is above max {max}")]
    MinAboveMax {
        /// The minimum it sets.
        min: u32,
        /// The maximum it sets.
        max: u32,
    },
    /// The end is not after the start.
    #[error("end is not after start")]
    EndBeforeStart,
}

/// What an action sets; `None` leaves the value as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sizes {
    /// The new minimum.
    pub min: Option<u32>,
    /// The new maximum.
    pub max: Option<u32>,
    /// The new desired capacity.
    pub desired: Option<u32>,
}

/// A scheduled action.
#[derive(Debug, Clone)]
pub struct ScheduledAction {
    /// Its name, unique in its group.
    pub name: String,
    recurrence: Option<Cron>,
    time_zone: TimeZone,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    /// What it sets.
    pub sizes: Sizes,
}

impl ScheduledAction {
    /// An action from its settings: `recurrence` a 5-field cron expression read in
    /// `time_zone` (an IANA name; `UTC` when `None`); with no recurrence it runs once, at
    /// `start`. With both, the recurrence runs from `start` on; after `end` it runs no more.
    pub fn new(
        name: &str,
        recurrence: Option<&str>,
        time_zone: Option<&str>,
        (start, end): (Option<Timestamp>, Option<Timestamp>),
        sizes: Sizes,
    ) -> Result<Self, ScheduleError> {
        let recurrence = recurrence
            .map(|pattern| {
                CronParser::builder()
                    .seconds(Seconds::Disallowed)
                    .year(Year::Disallowed)
                    .build()
                    .parse(pattern)
                    .map_err(|e| ScheduleError::Recurrence {
                        pattern: pattern.to_owned(),
                        reason: e.to_string(),
                    })
            })
            .transpose()?;
        let zone = time_zone.unwrap_or("UTC");
        let time_zone =
            TimeZone::get(zone).map_err(|_| ScheduleError::TimeZone(zone.to_owned()))?;
        if recurrence.is_none() && start.is_none() {
            return Err(ScheduleError::Never);
        }
        if sizes == Sizes::default() {
            return Err(ScheduleError::Empty);
        }
        if let (Some(min), Some(max)) = (sizes.min, sizes.max) {
            if min > max {
                return Err(ScheduleError::MinAboveMax { min, max });
            }
        }
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                return Err(ScheduleError::EndBeforeStart);
            }
        }
        Ok(Self {
            name: name.to_owned(),
            recurrence,
            time_zone,
            start,
            end,
            sizes,
        })
    }

    /// The first time it runs strictly after `after`; `None` when it never runs again.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let next = match &self.recurrence {
            None => self.start.filter(|s| *s > after)?,
            Some(cron) => {
                // From the start on: its first run is the first match at or after it.
                let (from, inclusive) = match self.start {
                    Some(s) if s > after => (s, true),
                    _ => (after, false),
                };
                let zoned = from.to_zoned(self.time_zone.clone());
                cron.find_next_occurrence(&zoned, inclusive)
                    .ok()?
                    .timestamp()
            }
        };
        match self.end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }

    /// The group after this action: ASG keeps `min ≤ desired ≤ max`, so a new minimum above
    /// the desired capacity raises it and a new maximum below lowers it.
    pub fn apply(&self, bounds: Bounds, desired: u32) -> (Bounds, u32) {
        let mut bounds = Bounds {
            min: self.sizes.min.unwrap_or(bounds.min),
            max: self.sizes.max.unwrap_or(bounds.max),
        };
        if bounds.min > bounds.max {
            // Only one of the two was set: the one set wins.
            if self.sizes.min.is_some() {
                bounds.max = bounds.min;
            } else {
                bounds.min = bounds.max;
            }
        }
        let desired = bounds.clamp(self.sizes.desired.unwrap_or(desired));
        (bounds, desired)
    }
}

#[cfg(test)]
mod tests;
