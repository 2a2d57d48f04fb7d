//! The L7 data plane: accepts HTTP/1.1 and HTTP/2 cleartext, forwards each request to a target
//! over pooled HTTP/1.1 keep-alive connections, and answers with cloud-load-balancer errors.
//!
//! Data plane, layer 3. It reads only the [`HttpSnapshot`] it is handed (through one
//! `ArcSwap` load per request) and the `TargetState` atomics of `ballast-balance`. It must not
//! import `health`, `scale`, `runtime` or `admin`. No lock is taken per request; see
//! `docs/request-lifecycle.md` for the phases of a request.

mod affinity;
mod body;
mod conn_state;
mod exchange;
mod explain;
mod fault;
mod forward;
mod headers;
mod ids;
mod pool;
mod proxy;
mod route;
mod routing;
mod server;
mod snapshot;
mod sticky;

pub use explain::{explain, Explanation};
pub use pool::ConnPool;
pub use route::{RequestView, RuleTable};
pub use server::{serve_listener, ListenerTask};
pub use snapshot::{
    FixedReply, GroupStickiness, HttpSnapshot, ListenerRoutes, RouteAction, SharedSnapshot, Sticky,
    Target, TargetGroup, TargetTlsRoute, WeightedRoute,
};
