//! What a policy sees of its group when it decides, and what it proposes.

use crate::capacity::Bounds;

/// The group at the time of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupView {
    /// The desired capacity now (instances warming up included).
    pub desired: u32,
    /// Instances launched and still within their warm-up: their metrics are left out, they
    /// count toward the desired capacity of the next scale-out, and while any is warming no
    /// policy scales in (ASG's warm-up).
    pub warming: u32,
    /// Its minimum and maximum capacity.
    pub bounds: Bounds,
}

impl GroupView {
    /// Instances whose metrics count: in service and warmed up.
    pub fn ready(&self) -> u32 {
        self.desired.saturating_sub(self.warming)
    }
}

/// A policy's answer: the capacity it wants, and why, in words for the activity history.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The desired capacity it asks for.
    pub desired: u32,
    /// The numbers it saw and the rule that decided, for the activity history.
    pub reason: String,
}

impl Proposal {
    /// Whether it adds instances to `group`.
    pub fn scales_out(&self, group: &GroupView) -> bool {
        self.desired > group.desired
    }
}
