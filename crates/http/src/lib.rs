//! The L7 data plane: accepts HTTP/1.1 (Ballast's own codec) and HTTP/2 (hyper), decides
//! where each request goes, forwards it to a target over pooled HTTP/1.1 keep-alive
//! connections driven inline by the request, and answers with cloud-load-balancer errors.
//!
//! Data plane, layer 3. It reads only the [`HttpSnapshot`] it is handed (through one
//! `ArcSwap` load per request) and the `TargetState` atomics of `ballast-balance`. It must not
//! import `health`, `scale`, `runtime` or `admin`. No lock is taken per request; see
//! `docs/request-lifecycle.md` for the phases of a request.
//!
//! Inside, modules only import downwards: `conn`, `buf`, `signal`, `limits` and the codec in
//! `h1` at the bottom; then `snapshot`, the decision phase (`decide`), the attempt phase
//! (`attempt`, `relay`), and the protocol front-ends (`h1`'s connection loop, `h2`, `server`).

// Shared with the L4 data plane, below this crate.
use ballast_l4::{limits, signal};

mod affinity;
mod attempt;
mod buf;
mod codec;
mod conn;
mod decide;
mod exchange;
mod explain;
mod fault;
mod forward;
#[doc(hidden)]
pub mod fuzzing;
mod h1;
mod h2;
mod head;
mod ids;
mod local;
mod prior;
mod rate;
mod read_ahead;
mod relay;
mod relay_h2;
mod rewrite;
mod route;
mod server;
mod snapshot;
mod sticky;
#[cfg(test)]
mod testing;
mod timer;
mod tunnel;
mod upstream;
mod waf;

pub use buf::BufferPool;
pub use explain::{explain, Explanation};
pub use head::FieldLookup;
pub use limits::{FdBudget, ListenerConnections};
pub use rate::{carry_limiters, limiter_named, RateLimiter};
pub use rewrite::HeaderOps;
pub use route::{RequestView, RuleTable};
pub use server::{serve_listener, ListenerTask};
pub use snapshot::{
    FixedReply, GroupStickiness, HttpSnapshot, ListenerRoutes, RouteAction, Routed, SharedSnapshot,
    Sticky, Target, TargetGroup, TargetTlsRoute, WeightedRoute,
};
pub use upstream::ConnPool;
pub use waf::Waf;
