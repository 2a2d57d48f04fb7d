//! Auto scaling: the decisions of scaling policies, as pure functions of what they observe,
//! with EC2 Auto Scaling's semantics (see docs/autoscaling.md).
//!
//! - [`capacity`]: a group's bounds and the adjustment types with ASG's rounding.
//! - [`alarm`]: metric alarms (statistic, comparison, M of N periods, missing data).
//! - [`target_tracking`]: hold a metric at a target; out quickly, in conservatively.
//! - [`step`]: step scaling (by distance past the threshold) and simple scaling (cooldown).
//! - [`schedule`]: scheduled actions (cron in an IANA time zone, daylight saving as Vixie cron).
//! - [`history`]: the hourly load history, kept in a file across restarts.
//! - [`forecast`], [`predictive`]: Holt-Winters load forecasts and predictive scaling.
//! - [`provider`], [`process`], [`command`]: what launches and terminates instances.
//! - [`fleet`]: a group's instances, and the steps that keep them at the desired capacity.
//! - [`suspend`]: the processes an operator can suspend and resume.
//! - [`combine`]: several policies on one group.
//! - [`sample`], [`scaler`]: a group's policies and scheduled actions driven sample by sample.
//! - [`simulate`]: the scaler against a load in virtual time (`ballast scale simulate`).
//!
//! Time is passed in by the caller (durations since an origin it chooses), so every policy
//! runs the same in the simulator's virtual time as in the running process.

pub mod alarm;
pub mod capacity;
pub mod combine;
pub mod command;
pub mod fleet;
pub mod forecast;
mod group;
pub mod history;
pub mod predictive;
pub mod process;
pub mod provider;
pub mod sample;
pub mod scaler;
pub mod schedule;
pub mod simulate;
pub mod step;
pub mod suspend;
pub mod target_tracking;

pub use group::{GroupView, Proposal};
