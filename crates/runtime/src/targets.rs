//! Targets at runtime: registration and deregistration through the API, draining, and the
//! health of every target as operators see it.

use std::net::SocketAddr;
use std::time::Instant;

use ballast_config::{GroupName, TargetConfig, TargetGroupConfig};

use crate::control::{ControlState, Draining};
use crate::error::RuntimeError;
use crate::events::log_transition;
use crate::{HealthReason, HealthState, Runtime};

/// What the runtime knows of one target's health, for operators (and the admin API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    /// Its group.
    pub group: GroupName,
    /// Its address.
    pub address: SocketAddr,
    /// Its state.
    pub state: HealthState,
    /// Why it is in that state.
    pub reason: HealthReason,
    /// Requests in flight on it.
    pub in_flight: u64,
    /// Requests sent to it since it was first configured (retried attempts included).
    pub requests: u64,
    /// Whether passive health has it ejected right now.
    pub ejected: bool,
    /// State changes since it was first configured.
    pub transitions: u64,
    /// When its last active health check ran and whether it passed (`None`: not checked).
    pub last_check: Option<(std::time::SystemTime, bool)>,
    /// Active health checks that passed since it was first configured.
    pub checks_passed: u64,
    /// Active health checks that failed since it was first configured.
    pub checks_failed: u64,
}

impl Runtime {
    /// Adds a target to a group at runtime. It starts `initial` (or `healthy` when the group
    /// has no health check); a target that was draining is registered again.
    pub fn register_target(&self, group: &str, address: SocketAddr) -> Result<(), RuntimeError> {
        self.register_target_in_zone(group, address, None)
    }

    /// As [`Runtime::register_target`], the target in `zone` (for zone-aware balancing): a
    /// scaling group's instance in the zone it was launched in.
    pub fn register_target_in_zone(
        &self,
        group: &str,
        address: SocketAddr,
        zone: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let mut state = self.control.lock();
        let name = GroupName::from(group);
        let config = group_mut(&mut state, &name)?;
        let present = config.targets.iter().any(|t| t.address == address);
        let draining = state
            .draining
            .iter()
            .any(|d| d.group == name && d.address == address);
        if present && !draining {
            // Nothing changes: no snapshot to rebuild (a cluster echoes registrations).
            return Ok(());
        }
        let config = group_mut(&mut state, &name)?;
        if !present {
            let target = TargetConfig {
                zone: zone.map(Into::into),
                ..TargetConfig::at(address)
            };
            config.targets.push(target.clone());
            state.registered.push((name.clone(), target));
        }
        state
            .draining
            .retain(|d| !(d.group == name && d.address == address));
        tracing::info!(target_group = group, target = %address, "target registered");
        self.control.publish(&mut state);
        Ok(())
    }

    /// Whether the group exists (and has the target, when `address` is given), without
    /// changing anything.
    pub fn has_target(&self, group: &str, address: Option<SocketAddr>) -> Result<(), RuntimeError> {
        let mut state = self.control.lock();
        let name = GroupName::from(group);
        let config = group_mut(&mut state, &name)?;
        match address {
            Some(address) if !config.targets.iter().any(|t| t.address == address) => {
                Err(RuntimeError::UnknownTarget {
                    group: name,
                    address,
                })
            }
            _ => Ok(()),
        }
    }

    /// Removes a target from a group at runtime. It is `draining` at once: no new requests
    /// or connections; requests in flight finish; when the group's deregistration delay is
    /// over, its remaining connections are closed and it is gone.
    pub fn deregister_target(&self, group: &str, address: SocketAddr) -> Result<(), RuntimeError> {
        let mut state = self.control.lock();
        let name = GroupName::from(group);
        let config = group_mut(&mut state, &name)?;
        let before = config.targets.len();
        config.targets.retain(|t| t.address != address);
        if config.targets.len() == before {
            return Err(RuntimeError::UnknownTarget {
                group: name,
                address,
            });
        }
        let delay = config.deregistration_delay;
        state
            .registered
            .retain(|(g, t)| !(*g == name && t.address == address));
        self.start_draining(&mut state, &name, address, Instant::now() + delay);
        self.reloads.forget_target(group, address);
        tracing::info!(target_group = group, target = %address, delay = ?delay, "target deregistering: draining");
        self.control.publish(&mut state);
        if delay.is_zero() {
            drop(state);
            self.control.tick(Instant::now());
        }
        Ok(())
    }

    /// The health of every target of every group, draining ones included.
    pub fn target_health(&self) -> Vec<TargetHealth> {
        let snapshot = self.control.snapshot.load();
        let now = Instant::now();
        snapshot
            .target_groups
            .iter()
            .flat_map(|g| {
                g.targets.iter().map(move |t| TargetHealth {
                    group: g.name.clone(),
                    address: t.address,
                    state: t.state.state(),
                    reason: t.state.reason(),
                    in_flight: t.state.in_flight(),
                    requests: t.state.requests(),
                    ejected: t.state.is_ejected(now),
                    transitions: t.state.transitions(),
                    last_check: t.state.last_check().map(|(at, passed)| {
                        let ago = now.saturating_duration_since(at);
                        (std::time::SystemTime::now() - ago, passed)
                    }),
                    // After the state: a check is counted before the state it decides is
                    // written, so the counts include the check behind the state read.
                    checks_passed: t.state.checks().0,
                    checks_failed: t.state.checks().1,
                })
            })
            .collect()
    }

    /// Records a target as draining until `until`, holding its live state and connections
    /// from the current snapshot so they can be closed then, and marks it `draining` now.
    pub(crate) fn start_draining(
        &self,
        state: &mut ControlState,
        group: &GroupName,
        address: SocketAddr,
        until: Instant,
    ) {
        let target = self
            .control
            .snapshot
            .load()
            .target_groups
            .iter()
            .find(|g| g.name == *group)
            .and_then(|g| g.targets.iter().find(|t| t.address == address))
            .cloned();
        if let Some(target) = &target {
            if let Some(t) = target.state.set_state(
                HealthState::Draining,
                HealthReason::DeregistrationInProgress,
                Instant::now(),
            ) {
                log_transition(group, address, t);
            }
        }
        state
            .draining
            .retain(|d| !(d.group == *group && d.address == address));
        state.draining.push(Draining {
            group: group.clone(),
            address,
            until,
            target,
        });
    }
}

fn group_mut<'a>(
    state: &'a mut ControlState,
    name: &GroupName,
) -> Result<&'a mut TargetGroupConfig, RuntimeError> {
    let known: Vec<String> = state
        .config
        .target_groups
        .iter()
        .map(|g| g.name.to_string())
        .collect();
    state
        .config
        .target_groups
        .iter_mut()
        .find(|g| &g.name == name)
        .ok_or_else(|| RuntimeError::UnknownGroup {
            group: name.clone(),
            known,
        })
}
