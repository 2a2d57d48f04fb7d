//! What the admin API and the dashboard show, as `Serialize` types built from the runtime at
//! the edge: the runtime's and the config's own types stay free of wire concerns, and every
//! enum is shown in its config spelling (`round_robin`, `healthy`), never its Rust name.
//!
//! Imported by the API and the dashboard alike; imports nothing of the crate.

use std::net::SocketAddr;
use std::time::SystemTime;

use ballast_config::raw::{RawAction, RawRule, RawTargetGroup};
use ballast_config::{ListenerConfig, Sparse};
use ballast_runtime::{Runtime, TargetHealth};
use serde::Serialize;

/// A listener: its addresses and, as written in the document, its rules and default action.
#[derive(Debug, Serialize)]
pub(crate) struct ListenerView {
    /// Its name.
    pub(crate) name: String,
    /// Its `bind` key.
    pub(crate) bind: SocketAddr,
    /// The address bound (the real port when `bind` said 0); `None` until bound.
    pub(crate) address: Option<SocketAddr>,
    /// `http` or `https`.
    pub(crate) protocol: &'static str,
    /// Its rules as written.
    pub(crate) rules: Sparse<Vec<RawRule>>,
    /// Its default action as written.
    pub(crate) default_action: Option<Sparse<RawAction>>,
}

/// A target group: its settings as written and every target's health. `T` is the target's
/// view (the dashboard adds figures to it).
#[derive(Debug, Serialize)]
pub(crate) struct GroupView<T = TargetView> {
    /// Its name.
    pub(crate) name: String,
    /// The protocol spoken to its targets (`http`, `https`, `tcp`, `udp`, `tcp_udp`, `tls`).
    pub(crate) protocol: &'static str,
    /// Its balancing algorithm, as the config spells it.
    pub(crate) algorithm: &'static str,
    /// Whether it has an active health check.
    pub(crate) health_check: bool,
    /// Its table as written.
    pub(crate) settings: Option<Sparse<RawTargetGroup>>,
    /// Every target, registered through the API and draining ones included.
    pub(crate) targets: Vec<T>,
}

/// One target's health and counters.
#[derive(Debug, Serialize)]
pub(crate) struct TargetView {
    /// `IP:PORT`.
    pub(crate) address: SocketAddr,
    /// `initial`, `healthy`, `unhealthy`, `draining` or `unused`.
    pub(crate) state: &'static str,
    /// Why, as a code (`Target.FailedHealthChecks`).
    pub(crate) reason: &'static str,
    /// Why, in words.
    pub(crate) description: &'static str,
    /// Requests in flight on it.
    pub(crate) in_flight: u64,
    /// Requests sent to it so far.
    pub(crate) requests: u64,
    /// Whether passive health has it ejected.
    pub(crate) ejected: bool,
    /// State changes so far.
    pub(crate) transitions: u64,
    /// The last active health check; `None` when none ran.
    pub(crate) last_check: Option<CheckView>,
}

/// When a health check ran and whether it passed.
#[derive(Debug, Serialize)]
pub(crate) struct CheckView {
    /// RFC 3339, milliseconds.
    pub(crate) time: String,
    /// Whether it passed.
    pub(crate) passed: bool,
}

/// Reload counts and the last attempt.
#[derive(Debug, Serialize)]
pub(crate) struct ReloadView {
    /// Reloads applied since start.
    pub(crate) succeeded: u64,
    /// Reloads refused since start.
    pub(crate) failed: u64,
    /// When the running configuration was applied.
    pub(crate) last_success: Option<String>,
    /// The last attempt, successful or not.
    pub(crate) last_attempt: Option<AttemptView>,
    /// Why the last attempt failed; `None` when it succeeded.
    pub(crate) last_error: Option<Vec<String>>,
}

/// When a reload was attempted and where it came from.
#[derive(Debug, Serialize)]
pub(crate) struct AttemptView {
    /// RFC 3339, milliseconds.
    pub(crate) time: String,
    /// `file`, `sighup` or `api`.
    pub(crate) origin: String,
}

// === builders ===

/// A time as the API shows it: RFC 3339 in UTC, with milliseconds.
pub(crate) fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// Every listener, in name order.
pub(crate) fn listeners(runtime: &Runtime) -> Vec<ListenerView> {
    let document = runtime.document();
    let bound = runtime.listeners();
    runtime
        .config()
        .listeners
        .iter()
        .map(|l| {
            let written = document.listener(&l.name.0);
            ListenerView {
                name: l.name.to_string(),
                bind: l.bind,
                address: bound.iter().find(|(n, _)| *n == l.name).map(|(_, a)| *a),
                protocol: protocol(l),
                rules: Sparse(written.map(|w| w.rules.clone()).unwrap_or_default()),
                default_action: written.map(|w| Sparse(w.default_action.clone())),
            }
        })
        .collect()
}

fn protocol(listener: &ListenerConfig) -> &'static str {
    listener.protocol.name()
}

/// Every target group, in name order.
pub(crate) fn groups(runtime: &Runtime) -> Vec<GroupView> {
    let document = runtime.document();
    let health = runtime.target_health();
    runtime
        .config()
        .target_groups
        .iter()
        .map(|g| GroupView {
            name: g.name.to_string(),
            protocol: g.protocol.name(),
            algorithm: g.algorithm.name(),
            health_check: g.health_check.is_some(),
            settings: document.target_group(&g.name.0).cloned().map(Sparse),
            targets: health
                .iter()
                .filter(|t| t.group == g.name)
                .map(target)
                .collect(),
        })
        .collect()
}

/// Every target of `group`.
pub(crate) fn targets(runtime: &Runtime, group: &str) -> Vec<TargetView> {
    runtime
        .target_health()
        .iter()
        .filter(|t| &*t.group.0 == group)
        .map(target)
        .collect()
}

fn target(t: &TargetHealth) -> TargetView {
    TargetView {
        address: t.address,
        state: t.state.as_str(),
        reason: t.reason.code(),
        description: t.reason.description(),
        in_flight: t.in_flight,
        requests: t.requests,
        ejected: t.ejected,
        transitions: t.transitions,
        last_check: t.last_check.map(|(at, passed)| CheckView {
            time: time(at),
            passed,
        }),
    }
}

/// The reload status.
pub(crate) fn reloads(runtime: &Runtime) -> ReloadView {
    let status = runtime.reload_status();
    ReloadView {
        succeeded: status.succeeded,
        failed: status.failed,
        last_success: status.last_success.map(time),
        last_attempt: status.last_attempt.map(|(at, origin)| AttemptView {
            time: time(at),
            origin,
        }),
        last_error: status.last_error,
    }
}

// === impl GroupView ===

impl<T> GroupView<T> {
    /// The same group with each target's view replaced (the dashboard adds figures).
    pub(crate) fn map_targets<U>(self, f: impl FnMut(T) -> U) -> GroupView<U> {
        GroupView {
            name: self.name,
            protocol: self.protocol,
            algorithm: self.algorithm,
            health_check: self.health_check,
            settings: self.settings,
            targets: self.targets.into_iter().map(f).collect(),
        }
    }
}
