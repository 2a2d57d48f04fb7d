//! The control plane's log lines about targets: health transitions, ejections and anomaly
//! mitigation. Below both the control loop and the snapshot build, which log transitions.

use std::net::SocketAddr;

use ballast_balance::{AnomalyEvent, TargetState, Transition};
use ballast_config::GroupName;
use ballast_health::OutlierEvent;

/// Logs a health transition decided by the control plane (draining, registration, a
/// rebuild); the health checkers log their own the same way.
pub(crate) fn log_transition(group: &GroupName, address: SocketAddr, t: Transition) {
    tracing::info!(
        target_group = %group,
        target = %address,
        from = t.from.as_str(),
        to = t.to.as_str(),
        reason = t.reason.code(),
        description = t.reason.description(),
        "target health changed"
    );
}

pub(crate) fn log_anomaly(
    group: &GroupName,
    targets: &[(SocketAddr, &TargetState)],
    event: AnomalyEvent,
) {
    let index = match event {
        AnomalyEvent::Mitigated { index, .. } | AnomalyEvent::Recovered { index } => index,
    };
    let Some((address, _)) = targets.get(index) else {
        return;
    };
    match event {
        AnomalyEvent::Mitigated {
            weight_permille, ..
        } => tracing::warn!(
            target_group = %group,
            target = %address,
            weight_permille,
            "target anomalous: error rate stands out from its peers, weight lowered"
        ),
        AnomalyEvent::Recovered { .. } => tracing::info!(
            target_group = %group,
            target = %address,
            "target recovered from anomaly mitigation: full weight"
        ),
    }
}

pub(crate) fn log_outlier(group: &GroupName, event: &OutlierEvent) {
    match event {
        OutlierEvent::Ejected {
            address,
            duration,
            count,
        } => tracing::warn!(
            target_group = %group,
            target = %address,
            ejection_time = ?duration,
            ejections_in_a_row = count,
            "target ejected: consecutive failures on real traffic"
        ),
        OutlierEvent::Returned { address } => {
            tracing::info!(target_group = %group, target = %address, "target returned from ejection")
        }
    }
}
