//! Load forecasts for predictive scaling: additive Holt-Winters (triple exponential
//! smoothing) over the group's hourly load history.
//!
//! Why this method: load on a load balancer follows the clock (a daily shape, often a weekly
//! one) around a level that drifts, and Holt-Winters models exactly those three parts (level,
//! trend, season), in O(n) per fit, with no training beyond the history itself and a result
//! that can be explained. The additive form is used because night-time load may be zero,
//! which the multiplicative one cannot handle. The season is a week (168 hours) once two
//! weeks of history exist, so each weekday gets its own daily shape; before that a day (24
//! hours). With one to two days of history, the forecast repeats the last day (seasonal
//! naive). With less than a day there is none, as ASG needs 24 hours to start. The smoothing
//! factors are chosen per fit by the least one-step-ahead squared error over the history.

/// Hours in a day, the daily season.
pub const DAY: usize = 24;
/// Hours in a week, the weekly season.
pub const WEEK: usize = 168;
/// Most history used: the last 14 days, as ASG's predictive scaling.
pub const MAX_HISTORY: usize = 14 * DAY;

/// How a forecast was made, for the API and the activity history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Yesterday's hours again (one to two days of history).
    SeasonalNaive,
    /// Holt-Winters with this season (hours) and these smoothing factors.
    HoltWinters {
        /// Season length in hours.
        season: usize,
        /// Level smoothing.
        alpha: f64,
        /// Trend smoothing.
        beta: f64,
        /// Season smoothing.
        gamma: f64,
    },
}

/// A forecast of the next hours' load.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// How it was made.
    pub method: Method,
    /// One value per hour, starting with the hour after the history's last; never negative.
    pub hourly: Vec<f64>,
}

/// Forecasts `hours` hours of load from `history` (hourly values, oldest first; only the
/// last [`MAX_HISTORY`] are used). `None` with less than a day of history.
pub fn forecast(history: &[f64], hours: usize) -> Option<Forecast> {
    let history = &history[history.len().saturating_sub(MAX_HISTORY)..];
    if history.len() < DAY || history.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let season = if history.len() >= 2 * WEEK { WEEK } else { DAY };
    if history.len() < 2 * season {
        let last_day = &history[history.len() - DAY..];
        let hourly = (0..hours).map(|h| last_day[h % DAY].max(0.0)).collect();
        return Some(Forecast {
            method: Method::SeasonalNaive,
            hourly,
        });
    }
    let mut best: Option<(f64, Fit)> = None;
    for alpha in [0.1, 0.3, 0.5, 0.7, 0.9] {
        for beta in [0.0, 0.02, 0.1] {
            for gamma in [0.05, 0.2, 0.4] {
                let fit = Fit::run(history, season, alpha, beta, gamma);
                if best.as_ref().is_none_or(|(sse, _)| fit.sse < *sse) {
                    best = Some((fit.sse, fit));
                }
            }
        }
    }
    let (_, fit) = best?;
    let hourly = (1..=hours).map(|h| fit.predict(h).max(0.0)).collect();
    Some(Forecast {
        method: Method::HoltWinters {
            season,
            alpha: fit.alpha,
            beta: fit.beta,
            gamma: fit.gamma,
        },
        hourly,
    })
}

/// The state of one Holt-Winters run over the history.
struct Fit {
    alpha: f64,
    beta: f64,
    gamma: f64,
    level: f64,
    trend: f64,
    /// Seasonal offsets, indexed by hour of the season.
    seasonal: Vec<f64>,
    /// The position in the season of the hour after the history.
    next: usize,
    /// Sum of squared one-step-ahead errors.
    sse: f64,
}

impl Fit {
    fn run(x: &[f64], m: usize, alpha: f64, beta: f64, gamma: f64) -> Fit {
        // Start: the trend is the change of mean from the first season to the second, per
        // hour; the level is the first season's mean, moved to its last hour along the
        // trend; each seasonal offset is the hour's average distance from that trend line
        // over every whole season of the history.
        let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
        let first = mean(&x[..m]);
        let trend = (mean(&x[m..2 * m]) - first) / m as f64;
        let centre = (m as f64 - 1.0) / 2.0;
        let line = |t: usize| first + (t as f64 - centre) * trend;
        let seasons = x.len() / m;
        let seasonal = (0..m)
            .map(|i| {
                (0..seasons)
                    .map(|k| x[i + k * m] - line(i + k * m))
                    .sum::<f64>()
                    / seasons as f64
            })
            .collect();
        let mut fit = Fit {
            alpha,
            beta,
            gamma,
            level: line(m - 1),
            trend,
            seasonal,
            next: 0,
            sse: 0.0,
        };
        for (t, &value) in x.iter().enumerate().skip(m) {
            let s = t % m;
            let predicted = fit.level + fit.trend + fit.seasonal[s];
            fit.sse += (value - predicted).powi(2);
            let level = alpha * (value - fit.seasonal[s]) + (1.0 - alpha) * (fit.level + fit.trend);
            fit.trend = beta * (level - fit.level) + (1.0 - beta) * fit.trend;
            fit.seasonal[s] = gamma * (value - level) + (1.0 - gamma) * fit.seasonal[s];
            fit.level = level;
        }
        fit.next = x.len() % m;
        fit
    }

    /// The value `h` hours after the history's last (h ≥ 1).
    fn predict(&self, h: usize) -> f64 {
        let m = self.seasonal.len();
        self.level + h as f64 * self.trend + self.seasonal[(self.next + h - 1) % m]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic load: a daily wave peaking in the afternoon, quieter weekends, and a
    /// slow rise; `noise` adds a deterministic wobble.
    fn load(hours: usize, noise: f64) -> Vec<f64> {
        (0..hours)
            .map(|t| {
                let hour = (t % DAY) as f64;
                let weekday = (t / DAY) % 7;
                let daily = 500.0 + 400.0 * ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin();
                let weekend = if weekday >= 5 { 0.5 } else { 1.0 };
                let wobble = noise * ((t * 7919 % 13) as f64 - 6.0);
                (daily * weekend + t as f64 * 0.5 + wobble).max(0.0)
            })
            .collect()
    }

    fn mean_abs_pct_error(forecast: &[f64], actual: &[f64]) -> f64 {
        let total: f64 = forecast
            .iter()
            .zip(actual)
            .map(|(f, a)| (f - a).abs() / a.max(1.0))
            .sum();
        total / forecast.len() as f64
    }

    #[test]
    fn nothing_before_a_day_then_yesterday_again() {
        assert_eq!(forecast(&load(23, 0.0), 48), None);
        let history = load(30, 0.0);
        let f = forecast(&history, 30).unwrap();
        assert_eq!(f.method, Method::SeasonalNaive);
        assert_eq!(f.hourly.len(), 30);
        assert_eq!(f.hourly[0], history[6], "hour 30 is hour 6 of the last day");
        assert_eq!(forecast(&[1.0, f64::NAN].repeat(20), 4), None);
    }

    #[test]
    fn two_weeks_of_history_forecast_the_next_two_days_closely() {
        let all = load(16 * DAY, 5.0);
        let (history, next) = all.split_at(14 * DAY);
        let f = forecast(history, 48).unwrap();
        assert!(
            matches!(f.method, Method::HoltWinters { season: WEEK, .. }),
            "{:?}",
            f.method
        );
        let error = mean_abs_pct_error(&f.hourly, &next[..48]);
        eprintln!(
            "48-hour forecast: mean error {:.1}% ({:?})",
            error * 100.0,
            f.method
        );
        assert!(error < 0.05, "mean error {error:.3}");
        // The weekly season catches the weekend: days 14 and 15 are weekdays (0 and 1).
        assert!(f.hourly[15] > 700.0, "{}", f.hourly[15]);
    }

    #[test]
    fn a_few_days_use_a_daily_season_and_never_go_negative() {
        let history = load(4 * DAY, 0.0);
        let f = forecast(&history, 24).unwrap();
        assert!(matches!(f.method, Method::HoltWinters { season: DAY, .. }));
        let falling: Vec<f64> = (0..72)
            .map(|t| (1000.0 - 14.0 * t as f64).max(0.0))
            .collect();
        let f = forecast(&falling, 48).unwrap();
        assert!(f.hourly.iter().all(|v| *v >= 0.0));
        // Only the last 14 days count.
        let long = load(40 * DAY, 0.0);
        let f = forecast(&long, 1).unwrap();
        assert!(matches!(f.method, Method::HoltWinters { season: WEEK, .. }));
    }
}
