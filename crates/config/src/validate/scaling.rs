//! Validation of scaling groups (`[scaling_groups.NAME]`): capacity, provider, policies and
//! scheduled actions, each problem at its key.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::defaults::*;
use crate::error::{unknown_reference, ErrorKind, KeyPath};
use crate::model::GroupName;
use crate::raw::{RawProvider, RawScalingGroup, RawScalingPolicy, RawScheduledAction};
use crate::scaling::*;

use super::Validator;

impl Validator {
    /// Every scaling group; a target group may have one at most.
    pub(super) fn scaling_groups(
        &mut self,
        at: &KeyPath,
        raw: &std::collections::BTreeMap<String, RawScalingGroup>,
        groups: &[String],
    ) -> Vec<ScalingGroupConfig> {
        let mut claimed: HashMap<&str, KeyPath> = HashMap::new();
        let mut out = Vec::new();
        for (name, group) in raw {
            let path = at.key(name);
            if let Some(other) = claimed.get(group.target_group.as_str()) {
                self.error(
                    path.key("target_group"),
                    ErrorKind::Conflict {
                        what: format!("target group {}", group.target_group),
                        other: other.to_string(),
                    },
                );
            } else {
                claimed.insert(&group.target_group, path.key("target_group"));
            }
            out.push(self.scaling_group(&path, name, group, groups));
        }
        out
    }

    fn scaling_group(
        &mut self,
        path: &KeyPath,
        name: &str,
        raw: &RawScalingGroup,
        groups: &[String],
    ) -> ScalingGroupConfig {
        self.name(path, name);
        if groups.binary_search(&raw.target_group).is_err() {
            self.error(
                path.key("target_group"),
                unknown_reference("target group", &raw.target_group, groups),
            );
        }
        let min = self.capacity(&path.key("min"), Some(raw.min), 0);
        let max = self.capacity(&path.key("max"), Some(raw.max), min);
        if min > max {
            self.invalid(
                path.key("min"),
                min.to_string(),
                format!("at most max ({max})"),
            );
        }
        let desired = self.capacity(&path.key("desired"), raw.desired, min);
        if raw.desired.is_some() && (desired < min || desired > max) {
            self.invalid(
                path.key("desired"),
                desired.to_string(),
                format!("from min ({min}) to max ({max})"),
            );
        }
        let default_cooldown = self.duration(
            &path.key("default_cooldown"),
            raw.default_cooldown.as_deref(),
            DEFAULT_SCALING_COOLDOWN,
        );
        let zones: Vec<Arc<str>> = raw
            .zones
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, z)| self.zone(&path.key("zones").index(i), Some(z)))
            .collect();
        let policies =
            self.scaling_policies(&path.key("policies"), &raw.policies, default_cooldown);
        let scheduled_actions =
            self.scheduled_actions(&path.key("scheduled_actions"), &raw.scheduled_actions);
        ScalingGroupConfig {
            name: name.into(),
            target_group: GroupName::from(raw.target_group.as_str()),
            min,
            max: max.max(min),
            desired: desired.clamp(min, max.max(min)),
            provider: self.provider(&path.key("provider"), &raw.provider, max),
            health_check_grace_period: self.duration(
                &path.key("health_check_grace_period"),
                raw.health_check_grace_period.as_deref(),
                DEFAULT_HEALTH_CHECK_GRACE_PERIOD,
            ),
            default_instance_warmup: self.duration(
                &path.key("default_instance_warmup"),
                raw.default_instance_warmup.as_deref(),
                std::time::Duration::ZERO,
            ),
            default_cooldown,
            zones,
            termination_policy: self.termination_policy(
                &path.key("termination_policy"),
                raw.termination_policy.as_deref(),
            ),
            history_file: self.history_file(&path.key("history_file"), name, raw),
            policies,
            scheduled_actions,
        }
    }

    /// `history_file`, by default `NAME.json` in [`DEFAULT_SCALING_HISTORY_DIR`].
    fn history_file(&mut self, path: &KeyPath, name: &str, raw: &RawScalingGroup) -> PathBuf {
        match raw.history_file.as_deref() {
            Some("") => {
                self.invalid(path.clone(), "\"\"", "a file path");
                PathBuf::new()
            }
            Some(file) => PathBuf::from(file),
            None => PathBuf::from(DEFAULT_SCALING_HISTORY_DIR).join(format!("{name}.json")),
        }
    }

    /// A policy or alarm on `target_response_time` reads the target groups' response-time
    /// histograms, which are counted only when `[metrics]` is enabled.
    pub(super) fn response_time_needs_metrics(
        &mut self,
        at: &KeyPath,
        groups: &[ScalingGroupConfig],
        metrics_enabled: bool,
    ) {
        if metrics_enabled {
            return;
        }
        for group in groups {
            for (i, policy) in group.policies.iter().enumerate() {
                let key = match policy {
                    ScalingPolicyConfig::TargetTracking { metric, .. } => {
                        (*metric == ScalingMetric::TargetResponseTime).then_some("metric")
                    }
                    ScalingPolicyConfig::Step { alarm, .. }
                    | ScalingPolicyConfig::Simple { alarm, .. } => {
                        (alarm.metric == ScalingMetric::TargetResponseTime).then_some("alarm")
                    }
                    ScalingPolicyConfig::Predictive { .. } => None,
                };
                if let Some(key) = key {
                    self.invalid(
                        at.key(&group.name).key("policies").index(i).key(key),
                        "target_response_time",
                        "another metric: target_response_time is measured only with [metrics] enabled = true",
                    );
                }
            }
        }
    }

    /// A capacity from 0 to [`MAX_SCALING_CAPACITY`].
    fn capacity(&mut self, path: &KeyPath, value: Option<i64>, default: u32) -> u32 {
        let max = MAX_SCALING_CAPACITY as usize;
        self.count(path, value, default as usize, 0..=max) as u32
    }

    fn provider(&mut self, path: &KeyPath, raw: &RawProvider, max: u32) -> ProviderConfig {
        let placeholder = ProviderConfig::Command {
            launch: String::new(),
            terminate: String::new(),
            list: None,
            timeout: DEFAULT_PROVIDER_COMMAND_TIMEOUT,
        };
        match (&raw.process, &raw.command) {
            (Some(p), None) => {
                let at = path.key("process");
                if !p.command.contains("{port}") {
                    self.invalid(
                        at.key("command"),
                        format!("\"{}\"", p.command),
                        "a command line with {port} in it (each instance listens on its own port)",
                    );
                }
                let ports = self.port_range(&at.key("ports"), &p.ports, max);
                ProviderConfig::Process {
                    command: p.command.clone(),
                    ports,
                    stop_timeout: self.positive_duration(
                        &at.key("stop_timeout"),
                        p.stop_timeout.as_deref(),
                        DEFAULT_PROCESS_STOP_TIMEOUT,
                    ),
                    log_dir: p.log_dir.as_ref().map(Into::into),
                }
            }
            (None, Some(c)) => {
                let at = path.key("command");
                for (key, script) in [("launch", &c.launch), ("terminate", &c.terminate)] {
                    if script.trim().is_empty() {
                        self.invalid(at.key(key), "\"\"", "a command line");
                    }
                }
                ProviderConfig::Command {
                    launch: c.launch.clone(),
                    terminate: c.terminate.clone(),
                    list: c.list.clone(),
                    timeout: self.positive_duration(
                        &at.key("timeout"),
                        c.timeout.as_deref(),
                        DEFAULT_PROVIDER_COMMAND_TIMEOUT,
                    ),
                }
            }
            _ => {
                self.invalid(
                    path.clone(),
                    "a provider with not exactly one kind",
                    "{ process = { ... } } or { command = { ... } }",
                );
                placeholder
            }
        }
    }

    /// `"FIRST-LAST"`: enough ports for `max` instances.
    fn port_range(
        &mut self,
        path: &KeyPath,
        text: &str,
        max: u32,
    ) -> std::ops::RangeInclusive<u16> {
        let parsed = text.split_once('-').and_then(|(a, b)| {
            let (a, b) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
            (a >= 1 && a <= b).then_some(a..=b)
        });
        match parsed {
            Some(range) if u32::from(*range.end() - *range.start()) + 1 >= max => range,
            Some(range) => {
                self.invalid(
                    path.clone(),
                    format!("\"{text}\""),
                    format!("a range of at least max ({max}) ports, not {}", range.len()),
                );
                range
            }
            None => {
                self.invalid(
                    path.clone(),
                    format!("\"{text}\""),
                    "a port range such as \"9100-9199\"",
                );
                1..=1
            }
        }
    }

    fn termination_policy(
        &mut self,
        path: &KeyPath,
        raw: Option<&[String]>,
    ) -> Vec<TerminationPolicy> {
        let Some(names) = raw else {
            return vec![TerminationPolicy::Default];
        };
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let policy = match name.as_str() {
                "default" => TerminationPolicy::Default,
                "oldest_launch" => TerminationPolicy::OldestLaunch,
                "oldest_instance" => TerminationPolicy::OldestInstance,
                "newest_instance" => TerminationPolicy::NewestInstance,
                other => {
                    self.invalid(
                        path.index(i),
                        format!("\"{other}\""),
                        "\"default\", \"oldest_launch\", \"oldest_instance\" or \"newest_instance\"",
                    );
                    continue;
                }
            };
            if policy == TerminationPolicy::Default && i + 1 != names.len() {
                self.invalid(
                    path.index(i),
                    "\"default\" before others",
                    "\"default\" last, as ASG orders it",
                );
            }
            out.push(policy);
        }
        if out.is_empty() {
            out.push(TerminationPolicy::Default);
        }
        out
    }

    fn scaling_policies(
        &mut self,
        path: &KeyPath,
        raw: &[RawScalingPolicy],
        default_cooldown: std::time::Duration,
    ) -> Vec<ScalingPolicyConfig> {
        if !self.within(path, raw.len(), MAX_SCALING_POLICIES, "policies") {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut scaling_predictive: Option<KeyPath> = None;
        for (i, policy) in raw.iter().enumerate() {
            let at = path.index(i);
            let Some(policy) = self.scaling_policy(&at, policy, default_cooldown) else {
                continue;
            };
            if let ScalingPolicyConfig::Predictive {
                forecast_and_scale: true,
                ..
            } = policy
            {
                match &scaling_predictive {
                    Some(other) => self.error(
                        at.key("mode"),
                        ErrorKind::Conflict {
                            what: "forecast_and_scale (one predictive policy may scale)".to_owned(),
                            other: other.to_string(),
                        },
                    ),
                    None => scaling_predictive = Some(at.key("mode")),
                }
            }
            out.push(policy);
        }
        out
    }

    fn scheduled_actions(
        &mut self,
        path: &KeyPath,
        raw: &[RawScheduledAction],
    ) -> Vec<ScheduledActionConfig> {
        if !self.within(path, raw.len(), MAX_SCHEDULED_ACTIONS, "scheduled actions") {
            return Vec::new();
        }
        let mut names: HashMap<&str, KeyPath> = HashMap::new();
        let mut out = Vec::new();
        for (i, action) in raw.iter().enumerate() {
            let at = path.index(i);
            if let Some(other) = names.get(action.name.as_str()) {
                self.error(
                    at.key("name"),
                    ErrorKind::Conflict {
                        what: format!("scheduled action name {}", action.name),
                        other: other.to_string(),
                    },
                );
            } else {
                names.insert(&action.name, at.key("name"));
            }
            if let Some(action) = self.scheduled_action(&at, action) {
                out.push(action);
            }
        }
        out
    }
}

mod alarm;
mod policy;
mod schedule;

#[cfg(test)]
mod tests;
