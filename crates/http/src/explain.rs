//! `explain`: what Ballast would do with a request, without sending it anywhere. Operators
//! debug routing with it (admin API `POST /api/v1/explain`).
//!
//! It runs the same routing, weighted choice, stickiness and balancer code as the request
//! path, on the published snapshot. Choosing a target is a real pick: for round robin it
//! advances the rotation by one, as one more request would.

use std::net::{IpAddr, SocketAddr};

use ballast_balance::PickInput;
use ballast_config::ListenerName;
use http::{HeaderValue, Request};

use crate::affinity::affinity_key;
use crate::forward::choose;
use crate::headers::Forwarded;
use crate::routing::route_action;
use crate::snapshot::{HttpSnapshot, RouteAction};
use crate::sticky::stuck_target;

/// What a request would get, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The matching rule's priority; `None`: the default action.
    pub rule: Option<u32>,
    /// `forward`, `weighted-forward`, `redirect` or `fixed-response`.
    pub action: &'static str,
    /// The group chosen (for forwards).
    pub target_group: Option<String>,
    /// The target chosen; `None` when the group has nothing to send to.
    pub target: Option<SocketAddr>,
    /// Plain-language reasons, in the order they were decided.
    pub why: Vec<String>,
}

/// Explains `req` arriving on `listener` from `client`; `None` when no such listener serves.
pub fn explain<B>(
    snapshot: &HttpSnapshot,
    listener: &ListenerName,
    req: &Request<B>,
    client: IpAddr,
) -> Option<Explanation> {
    let routes = snapshot.listener(listener)?;
    let (action, rule) = route_action(routes, req, client);
    let mut why = vec![match rule {
        Some(p) => format!(
            "rule with priority {p} is the first (lowest priority) whose conditions all match"
        ),
        None if routes.rules.is_empty() => {
            "the listener has no rules: its default action applies".to_owned()
        }
        None => "no rule matches: the listener's default action applies".to_owned(),
    }];
    let (kind, group) = match &action {
        RouteAction::Forward(group) => ("forward", std::sync::Arc::clone(group)),
        RouteAction::WeightedForward(route) => {
            match choose(route, req.headers(), fastrand::u64(..)) {
                Some((group, stuck)) => {
                    why.push(match stuck {
                        Some(_) => format!("group \"{}\" chosen by weight among {} groups (the response would set the group stickiness cookie)", group.name, route.groups.len()),
                        None => format!("group \"{}\" chosen by weight among {} groups", group.name, route.groups.len()),
                    });
                    ("weighted-forward", group)
                }
                None => {
                    why.push("every weighted group has weight 0".to_owned());
                    return Some(Explanation {
                        rule,
                        action: "weighted-forward",
                        target_group: None,
                        target: None,
                        why,
                    });
                }
            }
        }
        RouteAction::Redirect(r) => {
            why.push(format!("the action answers with a {} redirect", r.status));
            return Some(Explanation {
                rule,
                action: "redirect",
                target_group: None,
                target: None,
                why,
            });
        }
        RouteAction::Fixed(f) => {
            why.push(format!(
                "the action answers with a fixed {} response",
                f.status.as_u16()
            ));
            return Some(Explanation {
                rule,
                action: "fixed-response",
                target_group: None,
                target: None,
                why,
            });
        }
    };
    let forwarded = Forwarded {
        client_ip: HeaderValue::try_from(client.to_string())
            .unwrap_or(HeaderValue::from_static("unknown")),
        proto: HeaderValue::from_static("http"),
        port: HeaderValue::from_static("0"),
    };
    let now = std::time::Instant::now();
    let eligible = group
        .targets
        .iter()
        .filter(|t| t.state.is_eligible(now))
        .count();
    why.push(format!(
        "group \"{}\" ({:?}) has {} targets, {eligible} eligible",
        group.name,
        group.balancer.algorithm(),
        group.targets.len()
    ));
    let index = match stuck_target(&group, req.headers()) {
        Some(index) => {
            why.push("the request's sticky cookie names an eligible target".to_owned());
            Some(index)
        }
        None => {
            let key = affinity_key(&group, req, &forwarded);
            if key.is_some() {
                why.push("the target is placed by the request's hash key".to_owned());
            }
            let pick = PickInput {
                now,
                fail_open: group.fail_open,
                exclude: None,
                random: fastrand::u64(..),
                key,
            };
            let picked = group.balancer.pick(&group.targets, |t| &t.state, &pick);
            if picked.is_some() && eligible == 0 {
                why.push("no target is eligible: the group fails open and sends to every registered target".to_owned());
            }
            picked
        }
    };
    let target = index.map(|i| group.targets[i].address);
    if target.is_none() {
        why.push("no target may take the request: it would be answered 503".to_owned());
    }
    Some(Explanation {
        rule,
        action: kind,
        target_group: Some(group.name.0.to_string()),
        target,
        why,
    })
}
