//! The decision phase: what a request gets, without any I/O. Route (first matching rule, or
//! the default action) → weighted group → sticky target or affinity key → pick. The proxy
//! and `explain` both call [`decide`], so what `explain` says is what requests get.
//!
//! Pure: the clock and the random numbers come in as [`DecideInput`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use ballast_balance::PickInput;
use ballast_config::RedirectConfig;

use crate::affinity::affinity_key;
use crate::forward::{choose, group_cookie};
use crate::head::{host_of, RequestFacts};
use crate::rewrite::HeaderOps;
use crate::route::{client_ip, normalized_path, RequestView};
use crate::snapshot::{
    FixedReply, ListenerRoutes, RouteAction, Routed, TargetGroup, WeightedRoute,
};
use crate::sticky::{stick, stuck_target};

/// What the decision needs besides the request: who sent it, the time, and dice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecideInput<'a> {
    /// The TCP peer.
    pub(crate) peer: IpAddr,
    /// The client's address as text (what `ip_hash` hashes).
    pub(crate) peer_text: &'a [u8],
    pub(crate) now: Instant,
    /// Seconds since the Unix epoch (cookie expiry).
    pub(crate) unix_now: u64,
    /// Draws the weighted group.
    pub(crate) group_dice: u64,
    /// Feeds the balancer's pick.
    pub(crate) pick_dice: u64,
}

/// What a request gets.
#[derive(Debug)]
pub(crate) struct Decision {
    /// The matching rule's priority; `None`: the default action.
    pub(crate) rule: Option<u32>,
    pub(crate) verdict: Verdict,
    /// Rewrites of the request to the target (listener's and rule's).
    pub(crate) request_headers: Option<Arc<HeaderOps>>,
    /// Rewrites of the response to the client.
    pub(crate) response_headers: Option<Arc<HeaderOps>>,
    /// The matching rule's rate limit (the listener's is on its routes).
    pub(crate) rate_limit: Option<Arc<crate::RateLimiter>>,
    /// The matching rule's web application firewall (the listener's is on its routes).
    pub(crate) waf: Option<Arc<crate::Waf>>,
}

/// The action decided.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Send to a target of a group.
    Forward(Forwarding),
    /// A weighted forward whose groups all weigh 0: nothing to send to.
    NoGroup,
    /// Answer with a redirect.
    Redirect(Arc<RedirectConfig>),
    /// Answer with a fixed response.
    Fixed(Arc<FixedReply>),
}

/// A forward, decided down to the first target.
#[derive(Debug)]
pub(crate) struct Forwarding {
    pub(crate) group: Arc<TargetGroup>,
    /// Whether the group was drawn by weight (`explain` says so).
    pub(crate) weighted: bool,
    /// For a sticky weighted forward: the route and the group's identity, for the
    /// response's group cookie.
    pub(crate) group_cookie: Option<(Arc<WeightedRoute>, u64)>,
    /// The request's hashed affinity key (hashing algorithms only).
    pub(crate) key: Option<u64>,
    /// Whether the request's sticky cookie chose the target.
    pub(crate) stuck: bool,
    /// The first target: an index into `group.targets`; `None` when none may take traffic.
    pub(crate) target: Option<usize>,
}

impl Forwarding {
    /// The `Set-Cookie` values Ballast adds to a response from the target `target_id`: its
    /// sticky cookie (`sets_app_cookie` says whether the response sets an `app_cookie`
    /// group's cookie), and a sticky weighted forward's group cookie.
    pub(crate) fn set_cookies(
        &self,
        target_id: u64,
        sets_app_cookie: impl FnOnce(&str) -> bool,
    ) -> impl Iterator<Item = String> {
        let now = unix_now();
        [
            stick(&self.group, target_id, self.stuck, sets_app_cookie, now),
            self.group_cookie
                .as_ref()
                .and_then(|(route, id)| group_cookie(route, *id, now)),
        ]
        .into_iter()
        .flatten()
    }
}

/// Decides what `req`, arriving on `routes`, gets.
pub(crate) fn decide(
    routes: &ListenerRoutes,
    req: &dyn RequestFacts,
    input: &DecideInput<'_>,
) -> Decision {
    let (routed, rule) = route(routes, req, input.peer);
    let verdict = match &routed.action {
        RouteAction::Forward(group) => {
            Verdict::Forward(forwarding(Arc::clone(group), None, req, input))
        }
        RouteAction::WeightedForward(route) => {
            match choose(route, req, input.group_dice, input.unix_now) {
                Some((group, id)) => {
                    let cookie = id.map(|id| (Arc::clone(route), id));
                    let mut forward = forwarding(group, cookie, req, input);
                    forward.weighted = true;
                    Verdict::Forward(forward)
                }
                None => Verdict::NoGroup,
            }
        }
        RouteAction::Redirect(config) => Verdict::Redirect(Arc::clone(config)),
        RouteAction::Fixed(reply) => Verdict::Fixed(Arc::clone(reply)),
    };
    Decision {
        rule,
        verdict,
        request_headers: routed.request_headers.clone(),
        response_headers: routed.response_headers.clone(),
        rate_limit: routed.rate_limit.clone(),
        waf: routed.waf.clone(),
    }
}

/// The first rule `req` matches, by priority, else the default action.
fn route<'r>(
    routes: &'r ListenerRoutes,
    req: &dyn RequestFacts,
    peer: IpAddr,
) -> (&'r Routed, Option<u32>) {
    if routes.rules.is_empty() {
        return (&routes.default_action, None);
    }
    let client_ip = if routes.rules.needs_source_ip() {
        client_ip(peer, &routes.trusted_proxies, req)
    } else {
        Some(peer)
    };
    let path = normalized_path(req.path());
    let view = RequestView {
        host: host_of(req.authority()),
        path: &path,
        method: req.method(),
        query: req.query(),
        headers: req,
        client_ip,
    };
    match routes.rules.find(&view) {
        Some((routed, priority)) => (routed, Some(priority)),
        None => (&routes.default_action, None),
    }
}

/// Stickiness, affinity and the first pick within the chosen group.
fn forwarding(
    group: Arc<TargetGroup>,
    group_cookie: Option<(Arc<WeightedRoute>, u64)>,
    req: &dyn RequestFacts,
    input: &DecideInput<'_>,
) -> Forwarding {
    let stuck = stuck_target(&group, req, input.now, input.unix_now);
    let key = affinity_key(&group, req, input.peer_text);
    let target = stuck.or_else(|| pick(&group, key, None, input.now, input.pick_dice));
    Forwarding {
        group,
        weighted: false,
        group_cookie,
        key,
        stuck: stuck.is_some(),
        target,
    }
}

/// One pick in `group`, never `exclude` (a target that just failed).
pub(crate) fn pick(
    group: &TargetGroup,
    key: Option<u64>,
    exclude: Option<usize>,
    now: Instant,
    random: u64,
) -> Option<usize> {
    let input = PickInput {
        now,
        fail_open: group.fail_open,
        exclude,
        random,
        key,
    };
    group.balancer.pick(&group.targets, |t| &t.state, &input)
}

/// Seconds since the Unix epoch (cookie expiry).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
