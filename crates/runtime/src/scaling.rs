//! Scaling groups at run time: one task per group on the control runtime. Every sample
//! interval it reads the group's targets (health, requests, connections) and the provider
//! (instances that exited, CPU), lets the group's `Scaler` decide, and carries out the
//! `Fleet`'s steps: launch and register, deregister and (after the deregistration delay)
//! terminate. The decisions are `ballast-scale`'s pure code; this is only the shell.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballast_config::ScalingGroupConfig;
use ballast_scale::fleet::{Fleet, InstanceState, Step};
use ballast_scale::sample::SAMPLE;
use ballast_scale::scaler::Scaler;

use crate::Runtime;

mod commands;
mod history_file;
mod measure;
mod providers;
mod status;
mod targets;

pub(crate) use status::ScalingBoard;
use status::{publish, Report};
pub use status::{
    ActivityRecord, ForecastHour, ForecastStatus, InstanceStatus, ScalingCommand,
    ScalingCommandError, ScalingGroupStatus, SeriesPoint,
};

/// Activities kept per group for the admin API.
const HISTORY: usize = 100;
/// Samples kept per group for its chart: the last hour.
const SERIES: usize = 360;

impl Runtime {
    /// Runs the scaling groups: a supervisor on the control runtime starts a task for each
    /// group of the running configuration, and for each group a reload adds (from the file
    /// or the admin API). A group's task follows reloads of its settings (policies start
    /// afresh, instances stay) and, when a reload removes the group, retires its instances
    /// and ends. Call once, with the runtime shared.
    pub fn start_scaling(self: &Arc<Self>) {
        let runtime = Arc::clone(self);
        self.control.runtime.spawn(async move {
            let mut ticks = tokio::time::interval(SAMPLE);
            while !runtime.is_stopping() {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = runtime.leadership() => {}
                }
                for group in runtime.config().scaling_groups {
                    // In a cluster one node runs the groups: the scaling lease's holder.
                    if runtime.is_scaling_leader() && runtime.scaling.claim(&group.name) {
                        let handle = runtime.control.runtime.clone();
                        handle.spawn(run_group(Arc::clone(&runtime), group));
                    }
                }
            }
        });
    }

    /// Every scaling group's status.
    pub fn scaling_status(&self) -> Vec<ScalingGroupStatus> {
        self.scaling.all()
    }
}

/// One group's loop.
async fn run_group(runtime: Arc<Runtime>, mut config: ScalingGroupConfig) {
    let name = config.name.to_string();
    let mut group = config.target_group.to_string();
    let mut provider = providers::Providers::new(&config);
    let Ok(mut scaler) = Scaler::new(&config, jiff::Timestamp::now()) else {
        tracing::error!(scaling_group = %name, "scheduled actions could not be read; the group does not run");
        runtime.scaling.remove(&name);
        return;
    };
    if let Some(history) = history_file::load(&config.history_file, &name, jiff::Timestamp::now()) {
        scaler.set_history(history);
    }
    let mut saved_until = scaler.history().ended_at();
    let mut fleet = Fleet::new(
        &name,
        &config
            .zones
            .iter()
            .map(|z| z.to_string())
            .collect::<Vec<_>>(),
    );
    let mut desired = config.desired;
    let mut meter = measure::Meter::new();
    // Instances draining: id, when their termination is due, when their retirement began.
    let mut retiring: Vec<(String, Instant, jiff::Timestamp)> = Vec::new();
    let mut terminate_failures: std::collections::HashMap<String, u32> = Default::default();
    let mut history: VecDeque<ActivityRecord> = VecDeque::new();
    let mut series: VecDeque<SeriesPoint> = VecDeque::new();
    let mut launch_failures = 0u32;
    let mut last_failure = Instant::now();
    let mut suspended = ballast_scale::suspend::Suspended::default();
    let mut quiet_until = Instant::now();
    let mut ticks = tokio::time::interval(SAMPLE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(scaling_group = %name, target_group = %group, desired, "scaling group started");
    let taken = targets::take_over(&runtime, &mut provider, &mut fleet, &group, &mut ticks);
    let Some(adopted) = taken.await else {
        return runtime.scaling.remove(&name);
    };
    if let Some(activity) = adopted {
        tracing::info!(scaling_group = %name, "{}", activity.description);
        history.push_back(activity);
    }
    desired = targets::capacity(&config, &fleet);
    loop {
        ticks.tick().await;
        if runtime.is_stopping() {
            // Instances keep serving the requests in flight; they end with this task, once
            // the drain is over (the `process` provider's, when dropped).
            runtime.drained().await;
            break;
        }
        if !runtime.is_scaling_leader() {
            // Another node holds the scaling lease: it takes the instances over.
            return runtime.scaling.remove(&name);
        }
        let now = Instant::now();
        let running = runtime.config();
        let Some(current) = running.scaling_groups.iter().find(|g| *g.name == *name) else {
            tracing::info!(scaling_group = %name, "scaling group removed by a reload: its instances are terminated");
            targets::retire_all(&runtime, &mut provider, &mut fleet, &group).await;
            runtime.scaling.remove(&name);
            return;
        };
        if *current != config {
            if current.target_group != config.target_group {
                let to = current.target_group.to_string();
                targets::move_to(&runtime, &fleet, &group, &to);
                fleet.registered_again(now);
                let activity = format!("instances moved from target group {group} to {to}");
                group = to;
                meter = measure::Meter::new();
                history.push_back(ActivityRecord::now("reload", activity));
            }
            if provider.update(&current.provider) {
                fleet.mark_outdated();
                let activity = "provider changed: running instances are replaced one at a time, each once a new one is in service".to_owned();
                history.push_back(ActivityRecord::now("reload", activity));
            }
            config = current.clone();
            fleet.set_zones(
                &config
                    .zones
                    .iter()
                    .map(|z| z.to_string())
                    .collect::<Vec<_>>(),
            );
            if let Ok(rebuilt) = Scaler::new(&config, jiff::Timestamp::now()) {
                // Unchanged policies keep their state; the load history carries over.
                let old = std::mem::replace(&mut scaler, rebuilt);
                scaler.carry_over(old);
            }
            desired = desired.clamp(config.min, config.max);
            tracing::info!(scaling_group = %name, "scaling group settings reloaded");
        }
        let delay = running
            .target_groups
            .iter()
            .find(|g| g.name.0.as_ref() == group)
            .map_or(Duration::ZERO, |g| g.deregistration_delay);
        // An activity that began at `start` and ends now.
        let mut record = |cause: String,
                          description: String,
                          result: String,
                          start: jiff::Timestamp| {
            tracing::info!(scaling_group = %name, cause = %cause, result = %result, "{description}");
            history.push_back(ActivityRecord {
                start: start.to_string(),
                end: jiff::Timestamp::now().to_string(),
                cause,
                description,
                result,
            });
            if history.len() > HISTORY {
                history.pop_front();
            }
        };
        for description in commands::apply(
            runtime.scaling.take(&name),
            &mut desired,
            &mut suspended,
            &mut fleet,
        ) {
            record(
                "operator".to_owned(),
                description,
                "ok".to_owned(),
                jiff::Timestamp::now(),
            );
        }
        scaler.suspended = suspended;
        for id in provider.exited() {
            retiring.retain(|(r, _, _)| *r != id);
            let served = fleet
                .instances
                .iter()
                .any(|i| i.id.as_deref() == Some(id.as_str()) && i.healthy);
            if let Some(address) = fleet.gone(&id) {
                runtime.deregister_instance(&group, address);
                let mut description = format!("instance {id} ({address}) exited; it is replaced");
                // One that never served is a failed launch (a bad command, a port taken):
                // launches back off as after a provider error, not every 10 s.
                if !served {
                    launch_failures += 1;
                    last_failure = Instant::now();
                    let wait = launch_backoff(launch_failures);
                    quiet_until = last_failure + wait;
                    description = format!("instance {id} ({address}) exited before it was in service; next launch in {wait:?}");
                }
                record(
                    "exited".to_owned(),
                    description,
                    "ok".to_owned(),
                    jiff::Timestamp::now(),
                );
            }
        }
        let sample = meter.sample(&runtime, &group, now, &mut fleet, |id| provider.cpu(id));
        let warming = fleet.warming(now, config.default_instance_warmup);
        for activity in scaler.tick(jiff::Timestamp::now(), &sample, desired, warming) {
            record(
                activity.cause.clone(),
                format!(
                    "desired capacity {desired} -> {}: {}",
                    activity.desired, activity.reason
                ),
                "ok".to_owned(),
                activity.at,
            );
            desired = activity.desired;
        }
        let bounds = scaler.bounds();
        desired = bounds.clamp(desired);
        for step in fleet.plan(
            now,
            desired,
            config.health_check_grace_period,
            &config.termination_policy,
            &suspended,
        ) {
            match step {
                Step::Launch {
                    name: instance,
                    zone,
                } => {
                    // A node that lost the scaling lease launches nothing more.
                    if now < quiet_until || !runtime.is_scaling_leader() {
                        fleet.launch_failed(&instance);
                        continue;
                    }
                    let started = jiff::Timestamp::now();
                    match provider.launch(&instance, zone.as_deref()).await {
                        Ok(launched) => {
                            fleet.launched(&instance, &launched, Instant::now());
                            // The zone it was asked for, unless the provider said another.
                            let zone = launched.zone.as_deref().or(zone.as_deref());
                            let registered =
                                runtime.register_instance(&group, launched.address, zone);
                            let result =
                                registered.map_or_else(|e| e.to_string(), |()| "ok".to_owned());
                            let why = if fleet.rebalancing() == Some(instance.as_str()) {
                                " to balance the zones"
                            } else {
                                ""
                            };
                            record(
                                "launch".to_owned(),
                                format!(
                                    "launched {instance} ({}) at {}{why}",
                                    launched.id, launched.address
                                ),
                                result,
                                started,
                            );
                        }
                        Err(error) => {
                            launch_failures += 1;
                            last_failure = Instant::now();
                            let wait = launch_backoff(launch_failures);
                            quiet_until = last_failure + wait;
                            fleet.launch_failed(&instance);
                            record(
                                "launch".to_owned(),
                                format!("launching {instance} failed; next try in {wait:?}"),
                                error.to_string(),
                                started,
                            );
                        }
                    }
                }
                Step::Retire { id, address, why } => {
                    runtime.deregister_instance(&group, address);
                    let started = jiff::Timestamp::now();
                    retiring.push((id.clone(), now + delay, started));
                    record(
                        why.to_owned(),
                        format!(
                            "deregistered {id} ({address}); terminated after {delay:?} of draining"
                        ),
                        "ok".to_owned(),
                        started,
                    );
                }
            }
        }
        let due: Vec<(String, jiff::Timestamp)> = retiring
            .iter()
            .filter(|(_, at, _)| *at <= Instant::now())
            .map(|(id, _, started)| (id.clone(), *started))
            .collect();
        // A termination's activity spans the instance's retirement: deregistration, draining,
        // and the provider's termination.
        for (id, started) in due.into_iter().take_while(|_| runtime.is_scaling_leader()) {
            match provider.terminate(&id).await {
                Ok(()) => {
                    retiring.retain(|(r, _, _)| *r != id);
                    terminate_failures.remove(&id);
                    if let Some(address) = fleet.gone(&id) {
                        runtime.deregister_instance(&group, address);
                    }
                    record(
                        "terminate".to_owned(),
                        format!("terminated {id}"),
                        "ok".to_owned(),
                        started,
                    );
                }
                // Kept, and tried again after a back-off, so no instance is left running.
                Err(error) => {
                    let failures = terminate_failures.entry(id.clone()).or_insert(0u32);
                    *failures += 1;
                    let wait = launch_backoff(*failures);
                    for entry in retiring.iter_mut().filter(|(r, _, _)| *r == id) {
                        entry.1 = Instant::now() + wait;
                    }
                    record(
                        "terminate".to_owned(),
                        format!("terminating {id} failed; next try in {wait:?}"),
                        error.to_string(),
                        started,
                    );
                }
            }
        }
        provider.drop_unused();
        // Settled: as many instances as desired, all in service, none draining.
        let active: Vec<_> = fleet.active().collect();
        let settled = active.len() as u32 == desired
            && retiring.is_empty()
            && active
                .iter()
                .all(|i| i.state == InstanceState::Registered && i.healthy);
        if settled {
            scaler.activity_settled(jiff::Timestamp::now());
        }
        // An instance launched since the last failure and now in service ends a run of
        // failed launches.
        if fleet
            .instances
            .iter()
            .any(|i| i.healthy && i.launched_at > last_failure)
        {
            launch_failures = 0;
        }
        if scaler.history().ended_at() != saved_until {
            saved_until = scaler.history().ended_at();
            history_file::save(&config.history_file, &name, scaler.history());
        }
        SeriesPoint::add(&mut series, &sample, desired, SERIES);
        let report = Report {
            name: &name,
            group: &group,
            desired,
            bounds,
            suspended: suspended.names(),
            fleet: &fleet,
            history: &history,
            series: &series,
            scaler: &scaler,
        };
        publish(&runtime, report);
    }
}

/// The wait before the next launch after `failures` failed ones in a row: 20 s, 40 s, 80 s
/// ... up to 5 minutes.
fn launch_backoff(failures: u32) -> Duration {
    (SAMPLE * 2u32.saturating_pow(failures.min(5))).min(Duration::from_secs(300))
}
