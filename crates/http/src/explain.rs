//! `explain`: what Ballast would do with a request, without sending it anywhere. Operators
//! debug routing with it (admin API `POST /api/v1/explain`).
//!
//! It calls the same [`decide`] as the request path, on the published snapshot, so it
//! cannot drift from what requests get. Choosing a target is a real pick: for round robin it
//! advances the rotation by one, as one more request would.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ballast_config::ListenerName;
use http::Request;

use crate::conn::IpText;
use crate::decide::{decide, unix_now, DecideInput, Verdict};
use crate::snapshot::HttpSnapshot;

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
    let (parts, _) = clone_head(req).into_parts();
    let text = IpText::new(client);
    let now = Instant::now();
    let decision = decide(
        routes,
        &parts,
        &DecideInput {
            peer: client,
            peer_text: text.as_bytes(),
            now,
            unix_now: unix_now(),
            group_dice: fastrand::u64(..),
            pick_dice: fastrand::u64(..),
        },
    );
    let rule = decision.rule;
    let mut why = vec![match rule {
        Some(p) => format!(
            "rule with priority {p} is the first (lowest priority) whose conditions all match"
        ),
        None if routes.rules.is_empty() => {
            "the listener has no rules: its default action applies".to_owned()
        }
        None => "no rule matches: the listener's default action applies".to_owned(),
    }];
    let limits: Vec<String> = [
        routes.rate_limit.as_deref().map(|l| (l, "the listener's")),
        decision.rate_limit.as_deref().map(|l| (l, "the rule's")),
    ]
    .into_iter()
    .flatten()
    .map(|(l, whose)| format!("\"{}\" ({whose})", l.config.name))
    .collect();
    if !limits.is_empty() {
        why.push(format!(
            "it is counted against rate limit {} before its action (explain spends no token)",
            limits.join(" then ")
        ));
    }
    let answer = |action, why| Explanation {
        rule,
        action,
        target_group: None,
        target: None,
        why,
    };
    let forward = match decision.verdict {
        Verdict::Redirect(r) => {
            why.push(format!("the action answers with a {} redirect", r.status));
            return Some(answer("redirect", why));
        }
        Verdict::Fixed(f) => {
            why.push(format!(
                "the action answers with a fixed {} response",
                f.status.as_u16()
            ));
            return Some(answer("fixed-response", why));
        }
        Verdict::NoGroup => {
            why.push("every weighted group has weight 0".to_owned());
            return Some(answer("weighted-forward", why));
        }
        Verdict::Forward(forward) => forward,
    };
    let group = &forward.group;
    if forward.weighted {
        why.push(match forward.group_cookie {
            Some(_) => format!("group \"{}\" chosen by weight (the response would set the group stickiness cookie)", group.name),
            None => format!("group \"{}\" chosen by weight", group.name),
        });
    }
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
    if forward.stuck {
        why.push("the request's sticky cookie names an eligible target".to_owned());
    } else if forward.key.is_some() {
        why.push("the target is placed by the request's hash key".to_owned());
    }
    if forward.target.is_some() && eligible == 0 && !forward.stuck {
        why.push(
            "no target is eligible: the group fails open and sends to every registered target"
                .to_owned(),
        );
    }
    let target = forward.target.map(|i| group.targets[i].address);
    if target.is_none() {
        why.push("no target may take the request: it would be answered 503".to_owned());
    }
    Some(Explanation {
        rule,
        action: if forward.weighted {
            "weighted-forward"
        } else {
            "forward"
        },
        target_group: Some(group.name.0.to_string()),
        target,
        why,
    })
}

/// The head of `req`, without its body.
fn clone_head<B>(req: &Request<B>) -> Request<()> {
    let mut head = Request::new(());
    *head.method_mut() = req.method().clone();
    *head.uri_mut() = req.uri().clone();
    *head.headers_mut() = req.headers().clone();
    *head.version_mut() = req.version();
    head
}
