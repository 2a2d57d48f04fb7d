//! A group's hourly load history: the requests of each past hour, the last 14 days of them,
//! what predictive scaling forecasts from. Every group records it, with or without a
//! predictive policy, so a policy added later forecasts at once, as ASG's does from
//! CloudWatch's history. The history is stored in a file (see [`Stored`]) so a restart does
//! not lose it; the hour in progress is not stored.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::forecast::{DAY, MAX_HISTORY};
use crate::sample::SAMPLE;

const HOUR_SECONDS: i64 = 3600;
const HOUR_SAMPLES: usize = (HOUR_SECONDS as u64 / SAMPLE.as_secs()) as usize;

/// The history as stored in its file (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stored {
    /// The file format's version: 1.
    pub version: u32,
    /// The group it belongs to, so a file is not read for another group.
    pub group: String,
    /// Unix second at which the last hour of `hours` ended.
    pub ended_at: i64,
    /// Requests per hour, oldest first.
    pub hours: Vec<f64>,
}

/// Why a stored history was not taken.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StoredError {
    /// Another version of the format.
    #[error("format version {0}, this Ballast reads version 1")]
    Version(u32),
    /// It is another group's.
    #[error("it is the history of group \"{0}\"")]
    OtherGroup(String),
    /// A value is negative or not a number.
    #[error("hour {0} holds {1}, not a request count")]
    Value(usize, f64),
}

/// The hourly history and the hour in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlyHistory {
    hours: Vec<f64>,
    /// When the last closed hour ended: the hour in progress started then.
    ended_at: Timestamp,
    this_hour: f64,
    samples: usize,
}

impl HourlyHistory {
    /// An empty history whose first hour starts at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            hours: Vec::new(),
            ended_at: start,
            this_hour: 0.0,
            samples: 0,
        }
    }

    /// Past hours' requests, oldest first.
    pub fn hours(&self) -> &[f64] {
        &self.hours
    }

    /// When the last closed hour ended, the start of the hour a forecast begins with.
    pub fn ended_at(&self) -> Timestamp {
        self.ended_at
    }

    /// Adds one sample's `requests`, seen at `now`; true when it closed an hour. Hours close
    /// by the clock, an hour after the last one closed. A partial hour (the first after a
    /// restart) counts as if its samples had filled it.
    pub fn push(&mut self, now: Timestamp, requests: f64) -> bool {
        if requests.is_finite() && requests >= 0.0 {
            self.this_hour += requests;
        }
        self.samples += 1;
        if now.as_second() - self.ended_at.as_second() < HOUR_SECONDS {
            return false;
        }
        let filled = HOUR_SAMPLES as f64 / self.samples.clamp(1, HOUR_SAMPLES) as f64;
        self.add(self.this_hour * filled);
        self.this_hour = 0.0;
        self.samples = 0;
        // Hours with no sample at all (the process was stopped, or suspended): filled so the
        // history keeps its clock.
        self.fill_until(now);
        true
    }

    /// The history as its file holds it, for group `group`.
    pub fn stored(&self, group: &str) -> Stored {
        Stored {
            version: 1,
            group: group.to_owned(),
            ended_at: self.ended_at.as_second(),
            hours: self.hours.clone(),
        }
    }

    /// Takes a stored history of group `group` read at `now`. The hours between its end and
    /// `now` (Ballast was not running) are filled with the same hour a day earlier, the
    /// seasonal guess, so the daily shape goes on; the hour in progress starts afresh. A
    /// history that ended more than 14 days ago, or in the future (the clock moved back),
    /// holds nothing usable and is left out: the history starts at `now`.
    pub fn restore(stored: Stored, group: &str, now: Timestamp) -> Result<Self, StoredError> {
        if stored.version != 1 {
            return Err(StoredError::Version(stored.version));
        }
        if stored.group != group {
            return Err(StoredError::OtherGroup(stored.group));
        }
        if let Some((i, v)) = stored
            .hours
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || **v < 0.0)
        {
            return Err(StoredError::Value(i, *v));
        }
        let age = now.as_second() - stored.ended_at;
        let Ok(ended_at) = Timestamp::from_second(stored.ended_at) else {
            return Ok(Self::new(now));
        };
        if !(0..MAX_HISTORY as i64 * HOUR_SECONDS).contains(&age) {
            return Ok(Self::new(now));
        }
        let mut history = Self {
            hours: stored.hours,
            ended_at,
            this_hour: 0.0,
            samples: 0,
        };
        history.trim();
        history.fill_until(now);
        Ok(history)
    }

    /// Closes every whole hour between the last one's end and `now` that saw no sample.
    fn fill_until(&mut self, now: Timestamp) {
        let missing = (now.as_second() - self.ended_at.as_second()) / HOUR_SECONDS;
        // Bounded: past 14 days every stored hour is a guess anyway.
        for _ in 0..missing.clamp(0, MAX_HISTORY as i64 + 1) {
            let guess = match self.hours.len() {
                0 => 0.0,
                n if n >= DAY => self.hours[n - DAY],
                n => self.hours[n - 1],
            };
            self.add(guess);
        }
    }

    fn add(&mut self, requests: f64) {
        self.hours.push(requests);
        self.trim();
        self.ended_at = Timestamp::from_second(self.ended_at.as_second() + HOUR_SECONDS)
            .unwrap_or(self.ended_at);
    }

    fn trim(&mut self) {
        let extra = self.hours.len().saturating_sub(MAX_HISTORY);
        self.hours.drain(..extra);
    }
}

#[cfg(test)]
mod tests;
