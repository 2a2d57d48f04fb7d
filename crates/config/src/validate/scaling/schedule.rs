//! One scheduled action: its recurrence, time zone, times and sizes.

use crate::error::KeyPath;
use crate::raw::RawScheduledAction;
use crate::scaling::*;

use super::super::Validator;

impl Validator {
    pub(super) fn scheduled_action(
        &mut self,
        path: &KeyPath,
        raw: &RawScheduledAction,
    ) -> Option<ScheduledActionConfig> {
        let mut ok = true;
        if let Some(pattern) = &raw.recurrence {
            let parsed = croner::parser::CronParser::builder()
                .seconds(croner::parser::Seconds::Disallowed)
                .year(croner::parser::Year::Disallowed)
                .build()
                .parse(pattern);
            if let Err(e) = parsed {
                self.invalid(
                    path.key("recurrence"),
                    format!("\"{pattern}\""),
                    format!("a 5-field cron expression (minute hour day month weekday): {e}"),
                );
                ok = false;
            }
        }
        let time_zone = raw.time_zone.clone().unwrap_or_else(|| "UTC".to_owned());
        if jiff::tz::TimeZone::get(&time_zone).is_err() {
            self.invalid(
                path.key("time_zone"),
                format!("\"{time_zone}\""),
                "an IANA time zone name such as \"Europe/Berlin\"",
            );
            ok = false;
        }
        let mut time = |key: &str, text: &Option<String>| {
            let text = text.as_deref()?;
            match text.parse::<jiff::Timestamp>() {
                Ok(t) => Some(t),
                Err(e) => {
                    self.invalid(
                        path.key(key),
                        format!("\"{text}\""),
                        format!("an RFC 3339 time such as \"2026-12-24T18:00:00Z\": {e}"),
                    );
                    None
                }
            }
        };
        let (start, end) = (time("start", &raw.start), time("end", &raw.end));
        if raw.recurrence.is_none() && raw.start.is_none() {
            self.invalid(
                path.clone(),
                "neither recurrence nor start",
                "a recurrence, a start time, or both",
            );
            ok = false;
        }
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                self.invalid(
                    path.key("end"),
                    raw.end.clone().unwrap_or_default(),
                    "a time after start",
                );
                ok = false;
            }
        }
        let size = |v: &mut Validator, key: &str, value: Option<i64>| {
            value.map(|n| v.capacity(&path.key(key), Some(n), 0))
        };
        let (min, max, desired) = (
            size(self, "min", raw.min),
            size(self, "max", raw.max),
            size(self, "desired", raw.desired),
        );
        if min.is_none() && max.is_none() && desired.is_none() {
            self.invalid(
                path.clone(),
                "an action that sets nothing",
                "one or more of min, max and desired",
            );
            ok = false;
        }
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                self.invalid(
                    path.key("min"),
                    lo.to_string(),
                    format!("at most max ({hi})"),
                );
                ok = false;
            }
        }
        ok.then(|| ScheduledActionConfig {
            name: raw.name.clone(),
            recurrence: raw.recurrence.clone(),
            time_zone,
            start: raw.start.clone(),
            end: raw.end.clone(),
            min,
            max,
            desired,
        })
    }
}
