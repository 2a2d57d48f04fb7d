//! The health vocabulary every crate shares: states and reason codes, named as a cloud load
//! balancer names them so operators recognise them.

use std::fmt;

/// Where a target is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HealthState {
    /// Registered, not yet proven healthy by health checks: takes no traffic.
    Initial = 0,
    /// Takes traffic.
    Healthy = 1,
    /// Failed its health checks: takes no traffic unless the group fails open.
    Unhealthy = 2,
    /// Deregistered: finishes in-flight requests, takes no new ones.
    Draining = 3,
    /// Not in use (deregistration finished).
    Unused = 4,
}

/// Why a target is in its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HealthReason {
    /// Nothing to report (healthy).
    None = 0,
    /// Registered; the first health checks have not passed yet.
    InitialHealthChecking = 1,
    /// A health check got a status the matcher does not accept.
    ResponseCodeMismatch = 2,
    /// A health check did not complete within its timeout.
    Timeout = 3,
    /// Health checks failed (connection refused or reset, bad answer).
    FailedHealthChecks = 4,
    /// Deregistered; in-flight requests are finishing.
    DeregistrationInProgress = 5,
    /// Not registered in the group any more.
    NotRegistered = 6,
}

impl HealthState {
    pub(crate) fn from_u8(value: u8) -> Self {
        match value {
            0 => HealthState::Initial,
            1 => HealthState::Healthy,
            2 => HealthState::Unhealthy,
            3 => HealthState::Draining,
            _ => HealthState::Unused,
        }
    }

    /// The lower-case name used in logs, metrics and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Initial => "initial",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
            HealthState::Draining => "draining",
            HealthState::Unused => "unused",
        }
    }
}

impl HealthReason {
    pub(crate) fn from_u8(value: u8) -> Self {
        match value {
            1 => HealthReason::InitialHealthChecking,
            2 => HealthReason::ResponseCodeMismatch,
            3 => HealthReason::Timeout,
            4 => HealthReason::FailedHealthChecks,
            5 => HealthReason::DeregistrationInProgress,
            6 => HealthReason::NotRegistered,
            _ => HealthReason::None,
        }
    }

    /// The reason code, as ALB writes it (`Target.Timeout`); empty for `None`.
    pub fn code(self) -> &'static str {
        match self {
            HealthReason::None => "",
            HealthReason::InitialHealthChecking => "Elb.InitialHealthChecking",
            HealthReason::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
            HealthReason::Timeout => "Target.Timeout",
            HealthReason::FailedHealthChecks => "Target.FailedHealthChecks",
            HealthReason::DeregistrationInProgress => "Target.DeregistrationInProgress",
            HealthReason::NotRegistered => "Target.NotRegistered",
        }
    }

    /// A sentence for humans.
    pub fn description(self) -> &'static str {
        match self {
            HealthReason::None => "Target is healthy",
            HealthReason::InitialHealthChecking => "Initial health checks in progress",
            HealthReason::ResponseCodeMismatch => "Health checks failed with these codes",
            HealthReason::Timeout => "Request timed out",
            HealthReason::FailedHealthChecks => "Health checks failed",
            HealthReason::DeregistrationInProgress => "Target deregistration is in progress",
            HealthReason::NotRegistered => "Target is not registered to the target group",
        }
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
