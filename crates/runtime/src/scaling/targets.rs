//! A scaling group's instances as targets of its target group: those found running at
//! start, all of them when a reload gives the group another target group, and all of them
//! retired when a reload removes the group. In a cluster they are registered on every node.

use std::time::Instant;

use ballast_scale::fleet::Fleet;

use super::providers::Providers;
use super::ActivityRecord;
use crate::Runtime;

/// The instances the provider runs, taken over when the group starts (see [`adopt`]). In a
/// cluster a failed `list` is tried again every sample instead of launching anew (the
/// instances another node launched would be doubled); `None` when the group stops meanwhile
/// (the node stops, or loses the scaling lease).
pub(super) async fn take_over(
    runtime: &Runtime,
    provider: &mut Providers,
    fleet: &mut Fleet,
    group: &str,
    ticks: &mut tokio::time::Interval,
) -> Option<Option<ActivityRecord>> {
    loop {
        match adopt(runtime, provider, fleet, group).await {
            Ok(found) => return Some(found),
            Err(()) if runtime.shared_document().is_none() => return Some(None),
            Err(()) => {
                ticks.tick().await;
                if runtime.is_stopping() || !runtime.is_scaling_leader() {
                    return None;
                }
            }
        }
    }
}

/// After a restart, instances the provider still runs are taken over (registered in
/// `group` with their zone), not launched again. Returns the activity, when there were any;
/// `Err` when the provider's list failed.
async fn adopt(
    runtime: &Runtime,
    provider: &mut Providers,
    fleet: &mut Fleet,
    group: &str,
) -> Result<Option<ActivityRecord>, ()> {
    let found = match provider.list().await {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(None),
        Err(error) => {
            tracing::warn!(target_group = group, %error, "the provider's list failed; instances it still runs are not taken over");
            return Err(());
        }
    };
    for instance in &found {
        fleet.adopt(instance, Instant::now());
        let _ = runtime.register_instance(group, instance.address, instance.zone.as_deref());
    }
    Ok((!found.is_empty()).then(|| {
        let description = format!(
            "took over {} running instances the provider listed",
            found.len()
        );
        ActivityRecord::now("start", description)
    }))
}

/// Registers every instance of `fleet` still serving in target group `to` (with its zone),
/// and deregisters it, with draining, from `from`.
pub(super) fn move_to(runtime: &Runtime, fleet: &Fleet, from: &str, to: &str) {
    for i in fleet.active() {
        if let Some(address) = i.address {
            let _ = runtime.register_instance(to, address, i.zone.as_deref());
            runtime.deregister_instance(from, address);
        }
    }
}

/// Every instance of `fleet` (protected or draining ones included) deregistered from `group`
/// and terminated: none is left behind once its scaling group is gone.
pub(super) async fn retire_all(
    runtime: &Runtime,
    provider: &mut Providers,
    fleet: &mut Fleet,
    group: &str,
) {
    for instance in std::mem::take(&mut fleet.instances) {
        if let Some(address) = instance.address {
            runtime.deregister_instance(group, address);
        }
        if let Some(id) = instance.id {
            let _ = provider.terminate(&id).await;
        }
    }
}

/// The desired capacity a group starts with: the configured one, or the instances taken over
/// when there are more (a new scaling leader goes on from where the last one was), within
/// the group's bounds.
pub(super) fn capacity(config: &ballast_config::ScalingGroupConfig, fleet: &Fleet) -> u32 {
    let running = u32::try_from(fleet.active().count()).unwrap_or(u32::MAX);
    config.desired.max(running).clamp(config.min, config.max)
}
