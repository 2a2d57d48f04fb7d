//! A scaling group's instances as targets of its target group: those found running at
//! start, all of them when a reload gives the group another target group, and all of them
//! retired when a reload removes the group. In a cluster they are registered on every node.

use std::time::Instant;

use ballast_scale::fleet::Fleet;

use super::providers::Providers;
use super::ActivityRecord;
use crate::Runtime;

/// After a restart, instances the provider still runs are taken over (registered in
/// `group` with their zone), not launched again. Returns the activity, when there were any.
pub(super) async fn adopt(
    runtime: &Runtime,
    provider: &mut Providers,
    fleet: &mut Fleet,
    group: &str,
) -> Option<ActivityRecord> {
    let found = match provider.list().await {
        Ok(found) => found?,
        Err(error) => {
            tracing::warn!(target_group = group, %error, "the provider's list failed; instances it still runs are not taken over");
            return None;
        }
    };
    for instance in &found {
        fleet.adopt(instance, Instant::now());
        let _ = runtime.register_instance(group, instance.address, instance.zone.as_deref());
    }
    (!found.is_empty()).then(|| {
        let description = format!(
            "took over {} running instances the provider listed",
            found.len()
        );
        ActivityRecord::now("start", description)
    })
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
