//! Typed edits of a document: one rule, one target group, one target. Each changes the
//! document in place or refuses with an [`EditError`] and leaves it as it was; the caller
//! validates and applies the result as a whole, so a change applies entirely or not at all.

use std::net::SocketAddr;

use serde_json::Value;

use super::{part_from_json, Document};
use crate::error::{ConfigErrors, KeyPath};
use crate::raw::{RawListener, RawRule, RawTarget, RawTargetGroup};

/// Why an edit cannot be made to the document (before validation).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    /// No listener has this name.
    #[error("no listener \"{listener}\"")]
    NoListener {
        /// The name asked for.
        listener: String,
    },
    /// The listener has no rule with this priority.
    #[error("listener \"{listener}\" has no rule with priority {priority}")]
    NoRule {
        /// The listener.
        listener: String,
        /// The priority asked for.
        priority: i64,
    },
    /// A rule's own priority differs from the one it is put at.
    #[error("listeners.{listener}.rules: the rule's priority {found} does not match the {expected} it is put at")]
    PriorityMismatch {
        /// The listener.
        listener: String,
        /// The priority it is put at (the API path's).
        expected: i64,
        /// The priority the rule gives.
        found: i64,
    },
    /// No target group has this name.
    #[error("no target group \"{group}\"")]
    NoTargetGroup {
        /// The name asked for.
        group: String,
    },
    /// The target group has no target at this address.
    #[error("target group \"{group}\" has no target {address}")]
    NoTarget {
        /// The group.
        group: String,
        /// The address asked for.
        address: SocketAddr,
    },
    /// The part given does not read as what it should be; every problem with its key path.
    #[error("{errors}")]
    Malformed {
        /// The problems, with key paths inside the whole document.
        errors: ConfigErrors,
    },
}

// === impl Document ===

impl Document {
    /// Sets `rule` on `listener`: it replaces the rule with the same priority, or is added.
    /// Returns the rule it replaced.
    pub fn put_rule(
        &mut self,
        listener: &str,
        rule: RawRule,
    ) -> Result<Option<RawRule>, EditError> {
        let rules = &mut self.listener_mut(listener)?.rules;
        match rules.iter_mut().find(|r| r.priority == rule.priority) {
            Some(existing) => Ok(Some(std::mem::replace(existing, rule))),
            None => {
                rules.push(rule);
                Ok(None)
            }
        }
    }

    /// [`Document::put_rule`] with the rule as JSON (the admin API's body) to be put at
    /// `priority`. The body may leave its `priority` out; if it gives one, it must agree.
    pub fn put_rule_json(
        &mut self,
        listener: &str,
        priority: i64,
        body: &Value,
    ) -> Result<Option<RawRule>, EditError> {
        let rules = &self.listener_mut(listener)?.rules;
        let index = rules
            .iter()
            .position(|r| r.priority == priority)
            .unwrap_or(rules.len());
        let mut body = body.clone();
        if let Some(object) = body.as_object_mut() {
            match object.get("priority").map(Value::as_i64) {
                None => {
                    object.insert("priority".to_owned(), Value::from(priority));
                }
                Some(Some(found)) if found != priority => {
                    return Err(EditError::PriorityMismatch {
                        listener: listener.to_owned(),
                        expected: priority,
                        found,
                    })
                }
                // The same priority, or not a number: reading the rule reports the latter.
                Some(_) => {}
            }
        }
        let at = KeyPath::root()
            .key("listeners")
            .key(listener)
            .key("rules")
            .index(index);
        let rule = part_from_json(&at, &body)?;
        self.put_rule(listener, rule)
    }

    /// Removes the rule with `priority` from `listener`, and returns it.
    pub fn delete_rule(&mut self, listener: &str, priority: i64) -> Result<RawRule, EditError> {
        let rules = &mut self.listener_mut(listener)?.rules;
        let index = rules
            .iter()
            .position(|r| r.priority == priority)
            .ok_or_else(|| EditError::NoRule {
                listener: listener.to_owned(),
                priority,
            })?;
        Ok(rules.remove(index))
    }

    /// Sets target group `name` (adding it when new); returns the group it replaced.
    pub fn put_target_group(
        &mut self,
        name: &str,
        group: RawTargetGroup,
    ) -> Option<RawTargetGroup> {
        self.raw.target_groups.insert(name.to_owned(), group)
    }

    /// [`Document::put_target_group`] with the group as JSON (the admin API's body).
    pub fn put_target_group_json(
        &mut self,
        name: &str,
        body: &Value,
    ) -> Result<Option<RawTargetGroup>, EditError> {
        let at = KeyPath::root().key("target_groups").key(name);
        let group = part_from_json(&at, body)?;
        Ok(self.put_target_group(name, group))
    }

    /// Removes target group `name`, and returns it. Validation refuses the result while
    /// something still forwards to it.
    pub fn delete_target_group(&mut self, name: &str) -> Result<RawTargetGroup, EditError> {
        self.raw
            .target_groups
            .remove(name)
            .ok_or_else(|| EditError::NoTargetGroup {
                group: name.to_owned(),
            })
    }

    /// Adds `target` to `group`; `false` when the group already has a target at its address
    /// (which is left as it is).
    pub fn add_target(&mut self, group: &str, target: RawTarget) -> Result<bool, EditError> {
        let targets = &mut self.target_group_mut(group)?.targets;
        let address = target.address.parse::<SocketAddr>().ok();
        let present = targets.iter().any(|t| {
            t.address == target.address || (address.is_some() && target_address(t) == address)
        });
        if !present {
            targets.push(target);
        }
        Ok(!present)
    }

    /// Removes the target at `address` from `group`, and returns it.
    pub fn remove_target(
        &mut self,
        group: &str,
        address: SocketAddr,
    ) -> Result<RawTarget, EditError> {
        let targets = &mut self.target_group_mut(group)?.targets;
        let index = targets
            .iter()
            .position(|t| target_address(t) == Some(address))
            .ok_or_else(|| EditError::NoTarget {
                group: group.to_owned(),
                address,
            })?;
        Ok(targets.remove(index))
    }

    fn listener_mut(&mut self, name: &str) -> Result<&mut RawListener, EditError> {
        self.raw
            .listeners
            .get_mut(name)
            .ok_or_else(|| EditError::NoListener {
                listener: name.to_owned(),
            })
    }

    fn target_group_mut(&mut self, name: &str) -> Result<&mut RawTargetGroup, EditError> {
        self.raw
            .target_groups
            .get_mut(name)
            .ok_or_else(|| EditError::NoTargetGroup {
                group: name.to_owned(),
            })
    }
}

/// A target's address, when it is one (validation reports those that are not).
fn target_address(target: &RawTarget) -> Option<SocketAddr> {
    target.address.parse().ok()
}
