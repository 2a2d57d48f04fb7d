//! The processes of a scaling group an operator can suspend and resume, as ASG's
//! `SuspendProcesses`: while one is suspended, that part of the group's work does not
//! happen (and is not made up for on resume).

/// Which processes are suspended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Suspended {
    /// No instance is launched (scale-out, replacement).
    pub launch: bool,
    /// No instance is retired by a scale-in.
    pub terminate: bool,
    /// Instances failing their health checks are not replaced.
    pub replace_unhealthy: bool,
    /// Scheduled actions do not run (those due meanwhile are skipped).
    pub scheduled_actions: bool,
    /// Policies do not act (ASG's `AlarmNotification`).
    pub alarm_notification: bool,
    /// Zones are not balanced again (ASG's `AZRebalance`).
    pub zone_rebalance: bool,
}

/// Every process name, as the admin API takes them.
pub const PROCESSES: [&str; 6] = [
    "launch",
    "terminate",
    "replace_unhealthy",
    "scheduled_actions",
    "alarm_notification",
    "zone_rebalance",
];

impl Suspended {
    /// Suspends (`on`) or resumes the process `name`; an unknown name is refused.
    pub fn set(&mut self, name: &str, on: bool) -> Result<(), String> {
        let flag = match name {
            "launch" => &mut self.launch,
            "terminate" => &mut self.terminate,
            "replace_unhealthy" => &mut self.replace_unhealthy,
            "scheduled_actions" => &mut self.scheduled_actions,
            "alarm_notification" => &mut self.alarm_notification,
            "zone_rebalance" => &mut self.zone_rebalance,
            other => {
                return Err(format!(
                    "unknown process {other:?} (known: {})",
                    PROCESSES.join(", ")
                ))
            }
        };
        *flag = on;
        Ok(())
    }

    /// The names of the suspended processes.
    pub fn names(&self) -> Vec<&'static str> {
        let on = [
            self.launch,
            self.terminate,
            self.replace_unhealthy,
            self.scheduled_actions,
            self.alarm_notification,
            self.zone_rebalance,
        ];
        PROCESSES
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_are_suspended_and_resumed_by_name() {
        let mut s = Suspended::default();
        s.set("launch", true).unwrap();
        s.set("scheduled_actions", true).unwrap();
        assert_eq!(s.names(), ["launch", "scheduled_actions"]);
        s.set("launch", false).unwrap();
        assert_eq!(s.names(), ["scheduled_actions"]);
        assert!(s
            .set("az_rebalance", true)
            .unwrap_err()
            .contains("known: launch"));
    }
}
