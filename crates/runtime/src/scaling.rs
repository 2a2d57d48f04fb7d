//! Scaling groups at run time: one task per group on the control runtime. Every sample
//! interval it reads the group's targets (health, requests, connections) and the provider
//! (instances that exited, CPU), lets the group's `Scaler` decide, and carries out the
//! `Fleet`'s steps: launch and register, deregister and (after the deregistration delay)
//! terminate. The decisions are `ballast-scale`'s pure code; this is only the shell.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballast_config::{ProviderConfig, ScalingGroupConfig};
use ballast_scale::command::CommandProvider;
use ballast_scale::fleet::{Fleet, InstanceState, Step};
use ballast_scale::process::ProcessProvider;
use ballast_scale::provider::Provider;
use ballast_scale::sample::{Sample, SAMPLE};
use ballast_scale::scaler::Scaler;

use crate::{HealthState, Runtime};

mod commands;
mod status;

use status::publish;
pub(crate) use status::ScalingBoard;
pub use status::{
    ActivityRecord, InstanceStatus, ScalingCommand, ScalingCommandError, ScalingGroupStatus,
};

/// Activities kept per group for the admin API.
const HISTORY: usize = 100;

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
                ticks.tick().await;
                for group in runtime.config().scaling_groups {
                    if runtime.scaling.claim(&group.name) {
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

fn provider_for(config: &ScalingGroupConfig) -> Box<dyn Provider> {
    match &config.provider {
        ProviderConfig::Process {
            command,
            ports,
            stop_timeout,
            log_dir,
        } => Box::new(ProcessProvider::new(
            command,
            ports.clone(),
            *stop_timeout,
            log_dir.clone(),
        )),
        ProviderConfig::Command {
            launch,
            terminate,
            list,
            timeout,
        } => Box::new(CommandProvider::new(
            launch,
            terminate,
            list.as_deref(),
            *timeout,
        )),
    }
}

/// One group's loop.
async fn run_group(runtime: Arc<Runtime>, mut config: ScalingGroupConfig) {
    let name = config.name.to_string();
    let group = config.target_group.to_string();
    let mut provider = provider_for(&config);
    let Ok(mut scaler) = Scaler::new(&config, jiff::Timestamp::now()) else {
        tracing::error!(scaling_group = %name, "scheduled actions could not be read; the group does not run");
        runtime.scaling.remove(&name);
        return;
    };
    let mut fleet = Fleet::new(
        &name,
        &config
            .zones
            .iter()
            .map(|z| z.to_string())
            .collect::<Vec<_>>(),
    );
    let mut desired = config.desired;
    let mut seen_requests: HashMap<SocketAddr, u64> = HashMap::new();
    let mut retiring: Vec<(String, Instant)> = Vec::new();
    let mut history: VecDeque<ActivityRecord> = VecDeque::new();
    let mut launch_failures = 0u32;
    let mut last_sample = Instant::now();
    let mut suspended = ballast_scale::suspend::Suspended::default();
    let mut quiet_until = Instant::now();
    let mut ticks = tokio::time::interval(SAMPLE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(scaling_group = %name, target_group = %group, desired, "scaling group started");
    // After a restart, instances the provider still runs are taken over, not launched again.
    match provider.list().await {
        Ok(Some(found)) => {
            for instance in &found {
                fleet.adopt(instance, Instant::now());
                let _ = runtime.register_target(&group, instance.address);
            }
            if !found.is_empty() {
                let description = format!(
                    "took over {} running instances the provider listed",
                    found.len()
                );
                tracing::info!(scaling_group = %name, "{description}");
                history.push_back(ActivityRecord {
                    at: jiff::Timestamp::now().to_string(),
                    cause: "start".to_owned(),
                    description,
                    result: "ok".to_owned(),
                });
            }
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(scaling_group = %name, %error, "the provider's list failed; instances it still runs are not taken over")
        }
    }
    loop {
        ticks.tick().await;
        if runtime.is_stopping() {
            break;
        }
        let now = Instant::now();
        let running = runtime.config();
        let Some(current) = running.scaling_groups.iter().find(|g| *g.name == *name) else {
            tracing::info!(scaling_group = %name, "scaling group removed by a reload: its instances are terminated");
            // Every instance with an id, protected or draining ones included: none is left
            // behind once its group is gone.
            for instance in std::mem::take(&mut fleet.instances) {
                if let Some(address) = instance.address {
                    let _ = runtime.deregister_target(&group, address);
                }
                if let Some(id) = instance.id {
                    let _ = provider.terminate(&id).await;
                }
            }
            runtime.scaling.remove(&name);
            return;
        };
        if *current != config {
            config = current.clone();
            if let Ok(rebuilt) = Scaler::new(&config, jiff::Timestamp::now()) {
                scaler = rebuilt;
            }
            desired = desired.clamp(config.min, config.max);
            tracing::info!(scaling_group = %name, "scaling group settings reloaded");
        }
        let delay = running
            .target_groups
            .iter()
            .find(|g| g.name.0.as_ref() == group)
            .map_or(Duration::ZERO, |g| g.deregistration_delay);
        let mut record = |cause: String, description: String, result: String| {
            tracing::info!(scaling_group = %name, cause = %cause, result = %result, "{description}");
            history.push_back(ActivityRecord {
                at: jiff::Timestamp::now().to_string(),
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
            record("operator".to_owned(), description, "ok".to_owned());
        }
        scaler.suspended = suspended;
        for id in provider.exited() {
            retiring.retain(|(r, _)| *r != id);
            if let Some(address) = fleet.gone(&id) {
                let _ = runtime.deregister_target(&group, address);
                record(
                    "exited".to_owned(),
                    format!("instance {id} ({address}) exited; it is replaced"),
                    "ok".to_owned(),
                );
            }
        }
        // What the group's targets saw since the last sample.
        let targets: Vec<_> = runtime
            .target_health()
            .into_iter()
            .filter(|t| t.group.0.as_ref() == group)
            .collect();
        let healthy: HashMap<SocketAddr, bool> = targets
            .iter()
            .map(|t| (t.address, t.state == HealthState::Healthy))
            .collect();
        fleet.set_health(|a| healthy.get(&a).copied().unwrap_or(false));
        let mut requests = 0u64;
        for t in &targets {
            let before = seen_requests
                .insert(t.address, t.requests)
                .unwrap_or(t.requests);
            // A count below the last one is a new target at that address: all of it is new.
            requests += if t.requests < before {
                t.requests
            } else {
                t.requests - before
            };
        }
        seen_requests.retain(|a, _| healthy.contains_key(a));
        // A sample stands for 10 s: a slow provider call that delayed this one must not
        // read as a burst.
        let elapsed = now.duration_since(last_sample).max(SAMPLE);
        last_sample = now;
        let requests = requests as f64 * SAMPLE.as_secs_f64() / elapsed.as_secs_f64();
        let serving = healthy.values().filter(|h| **h).count() as u32;
        let warming = fleet.warming(now, config.default_instance_warmup);
        let cpus: Vec<f64> = fleet
            .instances
            .iter()
            .filter(|i| i.state == InstanceState::Registered && i.healthy)
            .filter_map(|i| provider.cpu(i.id.as_deref()?))
            .collect();
        let sample = Sample {
            requests,
            serving,
            cpu: (!cpus.is_empty()).then(|| cpus.iter().sum::<f64>() / cpus.len() as f64),
            response_time_ms: None,
            connections: Some(targets.iter().map(|t| t.in_flight as f64).sum()),
        };
        for activity in scaler.tick(jiff::Timestamp::now(), &sample, desired, warming) {
            record(
                activity.cause.clone(),
                format!(
                    "desired capacity {desired} -> {}: {}",
                    activity.desired, activity.reason
                ),
                "ok".to_owned(),
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
                    if now < quiet_until {
                        fleet.launch_failed(&instance);
                        continue;
                    }
                    match provider.launch(&instance, zone.as_deref()).await {
                        Ok(launched) => {
                            launch_failures = 0;
                            let registered = runtime.register_target(&group, launched.address);
                            fleet.launched(&instance, &launched, Instant::now());
                            let result =
                                registered.map_or_else(|e| e.to_string(), |()| "ok".to_owned());
                            record(
                                "launch".to_owned(),
                                format!(
                                    "launched {instance} ({}) at {}",
                                    launched.id, launched.address
                                ),
                                result,
                            );
                        }
                        Err(error) => {
                            // Back off: 10 s, 20 s, 40 s ... up to 5 minutes between tries.
                            launch_failures += 1;
                            let wait = SAMPLE * 2u32.saturating_pow(launch_failures.min(5));
                            quiet_until = Instant::now() + wait.min(Duration::from_secs(300));
                            fleet.launch_failed(&instance);
                            record(
                                "launch".to_owned(),
                                format!("launching {instance} failed; next try in {wait:?}"),
                                error.to_string(),
                            );
                        }
                    }
                }
                Step::Retire { id, address, why } => {
                    let _ = runtime.deregister_target(&group, address);
                    retiring.push((id.clone(), now + delay));
                    record(
                        why.to_owned(),
                        format!(
                            "deregistered {id} ({address}); terminated after {delay:?} of draining"
                        ),
                        "ok".to_owned(),
                    );
                }
            }
        }
        let due: Vec<String> = retiring
            .iter()
            .filter(|(_, at)| *at <= Instant::now())
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            match provider.terminate(&id).await {
                Ok(()) => {
                    retiring.retain(|(r, _)| *r != id);
                    if let Some(address) = fleet.gone(&id) {
                        let _ = runtime.deregister_target(&group, address);
                    }
                    record(
                        "terminate".to_owned(),
                        format!("terminated {id}"),
                        "ok".to_owned(),
                    );
                }
                // Kept: tried again at the next sample, so no instance is left running.
                Err(error) => record(
                    "terminate".to_owned(),
                    format!("terminating {id} failed; tried again"),
                    error.to_string(),
                ),
            }
        }
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
        let state = (desired, bounds, suspended.names());
        publish(&runtime, &name, &group, state, &fleet, &history);
    }
}
