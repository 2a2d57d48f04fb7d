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
    /// The latest activities, newest last.
    pub activities: Vec<ActivityRecord>,
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
}

/// One activity, for operators.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActivityRecord {
    /// When (RFC 3339).
    pub at: String,
    /// What caused it.
    pub cause: String,
    /// What it did.
    pub description: String,
    /// `ok` or the error.
    pub result: String,
}

/// The status of every scaling group, written by their tasks, read by the admin API.
#[derive(Debug, Default)]
pub(crate) struct ScalingBoard {
    groups: Mutex<BTreeMap<String, ScalingGroupStatus>>,
    /// Groups with a running task.
    running: Mutex<std::collections::BTreeSet<String>>,
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
        self.groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
    }
}

pub(super) fn publish(
    runtime: &Runtime,
    name: &str,
    group: &str,
    (desired, bounds): (u32, ballast_scale::capacity::Bounds),
    fleet: &Fleet,
    history: &VecDeque<ActivityRecord>,
) {
    let instances: Vec<InstanceStatus> = fleet
        .instances
        .iter()
        .map(|i| InstanceStatus {
            name: i.name.clone(),
            id: i.id.clone(),
            address: i.address,
            zone: i.zone.clone(),
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
    runtime.scaling.update(name, |status| {
        *status = ScalingGroupStatus {
            name: name.to_owned(),
            target_group: group.to_owned(),
            desired,
            min: bounds.min,
            max: bounds.max,
            in_service,
            pending,
            terminating,
            activities: history.iter().cloned().collect(),
            instances,
        };
    });
}
