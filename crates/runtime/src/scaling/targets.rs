//! A scaling group's instances as targets of its target group: those found running at
//! start, and all of them when a reload gives the group another target group.

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
        let _ = runtime.register_target_in_zone(group, instance.address, instance.zone.as_deref());
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
            let _ = runtime.register_target_in_zone(to, address, i.zone.as_deref());
            let _ = runtime.deregister_target(from, address);
        }
    }
}
