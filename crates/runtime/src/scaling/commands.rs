//! Operators' commands to running scaling groups: checked against the group when they come
//! (the admin API answers at once), applied by the group's task at its next sample.

use ballast_scale::fleet::Fleet;
use ballast_scale::suspend::Suspended;

use super::{ScalingCommand, ScalingCommandError};
use crate::Runtime;

impl Runtime {
    /// Queues an operator's command for a running scaling group, after checking it against
    /// the group's last published status; the group applies it at its next sample.
    pub fn scaling_command(
        &self,
        group: &str,
        command: ScalingCommand,
    ) -> Result<(), ScalingCommandError> {
        let status = self
            .scaling_status()
            .into_iter()
            .find(|g| g.name == group)
            .ok_or_else(|| ScalingCommandError::UnknownGroup(group.to_owned()))?;
        match &command {
            ScalingCommand::SetDesired(n) if *n < status.min || *n > status.max => {
                return Err(ScalingCommandError::Invalid(format!(
                    "desired {n} is outside the group's bounds ({} to {})",
                    status.min, status.max
                )));
            }
            ScalingCommand::Suspend(names) | ScalingCommand::Resume(names) => {
                let mut check = ballast_scale::suspend::Suspended::default();
                for name in names {
                    check
                        .set(name, true)
                        .map_err(ScalingCommandError::Invalid)?;
                }
            }
            ScalingCommand::Protect { instance, .. }
                if !status.instances.iter().any(|i| i.name == *instance) =>
            {
                return Err(ScalingCommandError::Invalid(format!(
                    "no instance \"{instance}\" in {group}"
                )));
            }
            _ => {}
        }
        self.scaling.push(group, command);
        Ok(())
    }
}

/// Applies `commands` to the group's state; what each did, for its activity record.
pub(super) fn apply(
    commands: Vec<ScalingCommand>,
    desired: &mut u32,
    suspended: &mut Suspended,
    fleet: &mut Fleet,
) -> Vec<String> {
    let mut done = Vec::new();
    for command in commands {
        let description = match command {
            ScalingCommand::SetDesired(n) => {
                let before = std::mem::replace(desired, n);
                format!("desired capacity {before} -> {n}, set by an operator")
            }
            ScalingCommand::Suspend(names) | ScalingCommand::Resume(names) if names.is_empty() => {
                continue
            }
            ScalingCommand::Suspend(names) => {
                for n in &names {
                    let _ = suspended.set(n, true);
                }
                format!("suspended {}", names.join(", "))
            }
            ScalingCommand::Resume(names) => {
                for n in &names {
                    let _ = suspended.set(n, false);
                }
                format!("resumed {}", names.join(", "))
            }
            ScalingCommand::Protect {
                instance,
                protected,
            } => {
                fleet.protect(&instance, protected);
                format!("scale-in protection of {instance}: {protected}")
            }
        };
        done.push(description);
    }
    done
}
