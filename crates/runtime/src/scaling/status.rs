//! What operators see of the scaling groups: each group's capacity, instances and latest
//! activities, written by the group's task and read by the admin API.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;

use ballast_scale::fleet::{Fleet, InstanceState};

use crate::Runtime;

/// What operators see of one scaling group.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ScalingGroupStatus {
    /// Its name.
    pub name: String,
    /// Its target group.
    pub target_group: String,
    /// Desired capacity.
    pub desired: u32,
    /// Bounds now.
    pub min: u32,
    /// Bounds now.
    pub max: u32,
    /// Instances in service (healthy targets).
    pub in_service: u32,
    /// Instances launching or not healthy yet.
    pub pending: u32,
    /// Instances deregistered and draining, or terminating.
    pub terminating: u32,
    /// Every instance.
    pub instances: Vec<InstanceStatus>,
    /// Processes suspended by an operator.
    pub suspended: Vec<&'static str>,
    /// The latest activities, newest last.
    pub activities: Vec<ActivityRecord>,
    /// The last hour's samples, oldest first: load against capacity.
    pub series: Vec<SeriesPoint>,
    /// The predictive policy's forecast, when the group has one and it has a day of history.
    pub forecast: Option<ForecastStatus>,
    /// Hours of load history kept (at most 14 days), what a forecast is made from.
    pub history_hours: usize,
}

/// One sample of a group, for its chart.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SeriesPoint {
    /// When (Unix seconds).
    pub at: i64,
    /// Requests its targets received, per second.
    pub requests_per_second: f64,
    /// Desired capacity after the sample.
    pub desired: u32,
    /// Instances in service (healthy targets).
    pub in_service: u32,
    /// Mean CPU use of the instances in service, in percent.
    pub cpu: Option<f64>,
    /// Mean time to a response head, in milliseconds.
    pub response_time_ms: Option<f64>,
}

impl SeriesPoint {
    /// Adds the point of `sample` (with the `desired` capacity after it), now, to `series`,
    /// keeping the last `keep`.
    pub(super) fn add(
        series: &mut VecDeque<Self>,
        sample: &ballast_scale::sample::Sample,
        desired: u32,
        keep: usize,
    ) {
        series.push_back(Self {
            at: jiff::Timestamp::now().as_second(),
            requests_per_second: sample.requests / ballast_scale::sample::SAMPLE.as_secs_f64(),
            desired,
            in_service: sample.serving,
            cpu: sample.cpu,
            response_time_ms: sample.response_time_ms,
        });
        if series.len() > keep {
            series.pop_front();
        }
    }
}

/// A predictive policy's forecast, for operators.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ForecastStatus {
    /// When its first hour starts (RFC 3339).
    pub starts_at: String,
    /// `forecast_only` or `forecast_and_scale`.
    pub mode: &'static str,
    /// How it was made: `seasonal_naive` (a repeat of the last day) or `holt_winters`.
    pub method: &'static str,
    /// Its season in hours: 24 or 168.
    pub season_hours: usize,
    /// Each hour's forecast.
    pub hours: Vec<ForecastHour>,
}

/// One forecast hour.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ForecastHour {
    /// When it starts (Unix seconds).
    pub at: i64,
    /// Requests expected in it.
    pub load: f64,
    /// Instances it needs.
    pub capacity: u32,
}

impl ForecastStatus {
    /// The forecast of `scaler`, if it has one.
    pub(super) fn of(scaler: &ballast_scale::scaler::Scaler) -> Option<Self> {
        use ballast_scale::forecast::Method;
        use ballast_scale::predictive::Mode;
        let (start, forecast, capacities) = scaler.forecast()?;
        let (method, season_hours) = match forecast.method {
            Method::SeasonalNaive => ("seasonal_naive", ballast_scale::forecast::DAY),
            Method::HoltWinters { season, .. } => ("holt_winters", season),
        };
        Some(Self {
            starts_at: start.to_string(),
            mode: match scaler.predictive_mode() {
                Some(Mode::ForecastAndScale) => "forecast_and_scale",
                _ => "forecast_only",
            },
            method,
            season_hours,
            hours: forecast
                .hourly
                .iter()
                .zip(capacities)
                .enumerate()
                .map(|(i, (load, capacity))| ForecastHour {
                    at: start.as_second() + 3600 * i as i64,
                    load: *load,
                    capacity: *capacity,
                })
                .collect(),
        })
    }
}

/// One instance, for operators.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstanceStatus {
    /// Its name.
    pub name: String,
    /// Its provider id.
    pub id: Option<String>,
    /// Its target address.
    pub address: Option<SocketAddr>,
    /// Its zone.
    pub zone: Option<String>,
    /// `launching`, `pending`, `in_service` or `terminating`.
    pub state: &'static str,
    /// Scale-in protection.
    pub protected: bool,
}

/// One activity, for operators.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActivityRecord {
    /// When it began (RFC 3339): a launch's call to the provider, a termination's
    /// deregistration.
    pub start: String,
    /// When it ended (RFC 3339); a decision's start and end are one moment.
    pub end: String,
    /// What caused it.
    pub cause: String,
    /// What it did.
    pub description: String,
    /// `ok` or the error.
    pub result: String,
}

impl ActivityRecord {
    /// An activity of one moment, now, that went as it should.
    pub(super) fn now(cause: &str, description: String) -> Self {
        let at = jiff::Timestamp::now().to_string();
        Self {
            start: at.clone(),
            end: at,
            cause: cause.to_owned(),
            description,
            result: "ok".to_owned(),
        }
    }
}

/// What an operator asks of a running scaling group (the admin API); its task applies it at
/// its next sample (within 10 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScalingCommand {
    /// Set the desired capacity (within the bounds), as ASG's `SetDesiredCapacity`.
    SetDesired(u32),
    /// Suspend these processes.
    Suspend(Vec<String>),
    /// Resume these processes.
    Resume(Vec<String>),
    /// Set an instance's scale-in protection.
    Protect {
        /// The instance's name.
        instance: String,
        /// Protected or not.
        protected: bool,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScalingCommandError {
    /// No scaling group of that name runs.
    #[error("no running scaling group \"{0}\"")]
    UnknownGroup(String),
    /// The command does not fit the group.
    #[error("{0}")]
    Invalid(String),
}

/// The status of every scaling group, written by their tasks, read by the admin API.
#[derive(Debug, Default)]
pub(crate) struct ScalingBoard {
    groups: Mutex<BTreeMap<String, ScalingGroupStatus>>,
    /// Groups with a running task.
    running: Mutex<std::collections::BTreeSet<String>>,
    /// Commands waiting for their group's next sample.
    commands: Mutex<BTreeMap<String, Vec<ScalingCommand>>>,
}

impl ScalingBoard {
    /// Marks `name` as running; false when it already is.
    pub(super) fn claim(&self, name: &str) -> bool {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.insert(name.to_owned())
    }

    pub(super) fn update(&self, name: &str, f: impl FnOnce(&mut ScalingGroupStatus)) {
        let mut groups = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(groups.entry(name.to_owned()).or_default());
    }

    /// Queues `command` for group `name`.
    pub(super) fn push(&self, name: &str, command: ScalingCommand) {
        let mut commands = self
            .commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        commands.entry(name.to_owned()).or_default().push(command);
    }

    /// The commands waiting for group `name`, oldest first.
    pub(super) fn take(&self, name: &str) -> Vec<ScalingCommand> {
        let mut commands = self
            .commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        commands.remove(name).unwrap_or_default()
    }

    /// Every group's status, by name.
    pub(super) fn all(&self) -> Vec<ScalingGroupStatus> {
        let groups = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        groups.values().cloned().collect()
    }

    /// The group's task ended.
    pub(super) fn remove(&self, name: &str) {
        use std::sync::PoisonError;
        self.groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        // Released, so a reload that adds the group again starts it again.
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }
}

/// What a group's task publishes after each sample.
pub(super) struct Report<'a> {
    pub(super) name: &'a str,
    pub(super) group: &'a str,
    pub(super) desired: u32,
    pub(super) bounds: ballast_scale::capacity::Bounds,
    pub(super) suspended: Vec<&'static str>,
    pub(super) fleet: &'a Fleet,
    pub(super) history: &'a VecDeque<ActivityRecord>,
    pub(super) series: &'a VecDeque<SeriesPoint>,
    pub(super) scaler: &'a ballast_scale::scaler::Scaler,
}

pub(super) fn publish(runtime: &Runtime, report: Report<'_>) {
    let instances: Vec<InstanceStatus> = report
        .fleet
        .instances
        .iter()
        .map(|i| InstanceStatus {
            name: i.name.clone(),
            id: i.id.clone(),
            address: i.address,
            zone: i.zone.clone(),
            protected: i.protected,
            state: match i.state {
                InstanceState::Launching => "launching",
                InstanceState::Registered if i.healthy => "in_service",
                InstanceState::Registered => "pending",
                InstanceState::Terminating => "terminating",
            },
        })
        .collect();
    let count = |s: &[&str]| instances.iter().filter(|i| s.contains(&i.state)).count() as u32;
    let (in_service, pending, terminating) = (
        count(&["in_service"]),
        count(&["launching", "pending"]),
        count(&["terminating"]),
    );
    let forecast = ForecastStatus::of(report.scaler);
    runtime.scaling.update(report.name, |status| {
        *status = ScalingGroupStatus {
            name: report.name.to_owned(),
            target_group: report.group.to_owned(),
            desired: report.desired,
            min: report.bounds.min,
            max: report.bounds.max,
            in_service,
            pending,
            terminating,
            suspended: report.suspended,
            activities: report.history.iter().cloned().collect(),
            instances,
            series: report.series.iter().copied().collect(),
            forecast,
            history_hours: report.scaler.history().hours().len(),
        };
    });
}
