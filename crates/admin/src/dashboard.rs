//! The dashboard: an HTML page embedded in the binary (`GET /`), the state it shows as JSON
//! (`GET /api/v1/stats`) and as a live stream of Server-Sent Events (`GET /api/v1/events`),
//! and the sampler that keeps five minutes of per-second figures for its charts.
//!
//! The sampler reads the metric registry's counters once a second on the admin thread; the
//! request path never knows it exists.

mod state;
mod stats;
pub(crate) mod store;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ballast_runtime::Runtime;
use http::{HeaderValue, StatusCode};
use tokio_util::sync::CancellationToken;

use self::stats::{Reading, TargetReading, SAMPLE_EVERY};
use crate::app::App;
use crate::reply::{error, reply};

/// The page: plain HTML, CSS and JavaScript in one file, no build step and nothing fetched
/// from elsewhere.
const PAGE: &str = include_str!("../assets/dashboard.html");

/// The page may load only itself: inline script and style, data from this origin.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Most dashboard event streams open at once; more get 503.
const MAX_STREAMS: usize = 32;

/// One open event stream, counted in [`App::streams`] until dropped.
struct StreamSlot(Arc<App>);

/// Starts sampling the metrics once a second for the charts; stops, and ends every event
/// stream, when `stop` is cancelled.
pub(crate) fn spawn_sampler(app: Arc<App>, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SAMPLE_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut before: Option<(Instant, Reading)> = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let now = Instant::now();
            let reading = read_totals(&app.runtime);
            let targets = read_targets(&app.runtime, now);
            let mut recent = app.dashboard.lock();
            if let Some((then, previous)) = &before {
                let unix_ms = unix_ms(SystemTime::now());
                let sample = stats::sample(previous, &reading, now - *then, unix_ms);
                recent.samples.push(sample);
            }
            recent.keep_targets(targets);
            drop(recent);
            before = Some((now, reading));
        }
        app.dashboard.stop.cancel();
    });
}

/// The dashboard's routes.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(page))
        .route("/api/v1/stats", get(stats_once))
        .route("/api/v1/events", get(events))
}

async fn page() -> Response {
    let mut response = (StatusCode::OK, PAGE).into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    // The URL may carry the admin token; keep it out of caches and Referer headers.
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    headers.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn stats_once(State(app): State<Arc<App>>) -> Response {
    let mut response = reply(StatusCode::OK, &state::state(&app));
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

impl StreamSlot {
    fn take(app: &Arc<App>) -> Option<Self> {
        let open = app
            .streams
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let slot = Self(Arc::clone(app));
        (open < MAX_STREAMS).then_some(slot)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0
            .streams
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One event a second, each the whole state, until the client leaves or the server stops.
async fn events(State(app): State<Arc<App>>) -> Response {
    let Some(slot) = StreamSlot::take(&app) else {
        return error(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "Admin.TooManyStreams",
            "too many dashboard event streams are open",
        );
    };
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stream = futures_util::stream::unfold((slot, ticks), |(slot, mut ticks)| async move {
        let app = Arc::clone(&slot.0);
        tokio::select! {
            () = app.dashboard.stop.cancelled() => None,
            _ = ticks.tick() => {
                let state = serde_json::to_string(&state::state(&app)).unwrap_or_default();
                let event = Event::default().event("state").data(state);
                Some((Ok::<_, Infallible>(event), (slot, ticks)))
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Every listener's totals and every group's latency histogram, merged.
fn read_totals(runtime: &Runtime) -> Reading {
    let metrics = runtime.metrics();
    let listeners = metrics
        .listeners()
        .into_iter()
        .map(|(name, m)| {
            let classes = m.responses.classes();
            let totals = stats::ListenerTotals {
                requests: m.requests.get(),
                responses: classes.iter().sum(),
                errors_5xx: classes[4],
            };
            (name, totals)
        })
        .collect();
    let histograms: Vec<_> = metrics
        .groups()
        .iter()
        .map(|(_, g)| g.response_time.snapshot())
        .collect();
    Reading {
        listeners,
        latency: stats::merge_histograms(&histograms),
    }
}

/// Every configured target's counters now.
fn read_targets(runtime: &Runtime, now: Instant) -> Vec<((String, SocketAddr), TargetReading)> {
    let metrics = runtime.metrics();
    runtime
        .target_health()
        .into_iter()
        .filter_map(|t| {
            let group = t.group.0.to_string();
            let m = metrics.find_target(&group, t.address)?;
            let reading = TargetReading {
                at: now,
                requests: m.requests.get(),
                latency: m.response_time.snapshot(),
            };
            Some(((group, t.address), reading))
        })
        .collect()
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
