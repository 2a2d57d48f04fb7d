//! Everything the dashboard page shows, as one `Serialize` document: the API's views of
//! listeners, groups and reloads, with the sampler's recent figures added.

use std::net::SocketAddr;
use std::time::SystemTime;

use serde::Serialize;

use super::stats::{self, Point, SAMPLE_EVERY};
use crate::app::App;
use crate::views::{self, GroupView, ListenerView, ReloadView, TargetView};

/// The dashboard's state.
#[derive(Debug, Serialize)]
pub(super) struct State {
    /// When it was taken, RFC 3339.
    time: String,
    /// How far apart the points of `series` are.
    sample_interval_ms: u64,
    /// The charts' points, oldest first.
    series: Vec<Point>,
    listeners: Vec<ListenerFigures>,
    target_groups: Vec<GroupView<TargetFigures>>,
    reload: ReloadView,
    /// Always `null`, kept so the document's shape does not change: scaling groups change
    /// once per 10 s sample and carry an hour of points each, too much to resend every
    /// second, so the page polls `/api/v1/scaling-groups` every 5 s instead.
    scaling_groups: Option<serde_json::Value>,
    /// Always `null`, kept for the same reason: the DNS status carries every record set with
    /// its members, so the page polls `/api/v1/dns` every 5 s instead.
    dns_health: Option<serde_json::Value>,
}

/// A listener with its last second's rate and share of 5xx (`null` before the first sample).
#[derive(Debug, Serialize)]
struct ListenerFigures {
    #[serde(flatten)]
    listener: ListenerView,
    requests_per_s: Option<f64>,
    error_ratio: Option<f64>,
}

/// A target with its recent rate and latency quantiles (`null` until two readings exist).
#[derive(Debug, Serialize)]
struct TargetFigures {
    #[serde(flatten)]
    target: TargetView,
    requests_per_s: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

/// The state now.
pub(super) fn state(app: &App) -> State {
    let runtime = &app.runtime;
    // Read the runtime first: the sampler's lock is held only for the arithmetic.
    let listeners = views::listeners(runtime);
    let groups = views::groups(runtime);
    let reload = views::reloads(runtime);
    let recent = app.dashboard.lock();
    let series = recent.samples.iter().map(stats::point).collect();
    let latest = recent.samples.last();
    let listeners = listeners
        .into_iter()
        .map(|listener| {
            let now = latest.and_then(|s| s.listeners.get(&listener.name).map(|t| (s, t)));
            ListenerFigures {
                requests_per_s: now.map(|(s, t)| stats::per_second(t.requests, s.elapsed)),
                error_ratio: now.and_then(|(_, t)| stats::share(t.errors_5xx, t.responses)),
                listener,
            }
        })
        .collect();
    let target_groups = groups
        .into_iter()
        .map(|group| {
            let name = group.name.clone();
            group.map_targets(|target| {
                let key: (String, SocketAddr) = (name.clone(), target.address);
                let figures = recent.targets.get(&key).and_then(stats::target_figures);
                TargetFigures {
                    requests_per_s: figures.as_ref().map(|f| f.requests_per_s),
                    p50_ms: figures.as_ref().and_then(|f| f.p50_ms),
                    p99_ms: figures.as_ref().and_then(|f| f.p99_ms),
                    target,
                }
            })
        })
        .collect();
    drop(recent);
    State {
        time: views::time(SystemTime::now()),
        sample_interval_ms: u64::try_from(SAMPLE_EVERY.as_millis()).unwrap_or(u64::MAX),
        series,
        listeners,
        target_groups,
        reload,
        scaling_groups: None,
        dns_health: None,
    }
}
