//! Weighted forwarding to several target groups (blue-green, canary), with target group
//! stickiness: a client keeps the group it was first sent to for a while, through a sealed
//! cookie, so a canary does not flap between versions from one request to the next.

use std::sync::Arc;

use crate::affinity::cookie_values;
use crate::head::FieldLookup;
use crate::snapshot::{TargetGroup, WeightedRoute};

/// The group a request goes to: the one its cookie sticks it to (if genuine, unexpired at
/// `unix_now` and still weighted above 0), else one drawn by weight with `random`. Also
/// returns the group's identity for the response's cookie when stickiness is on. `None`
/// when no group has a weight above 0.
pub(crate) fn choose(
    route: &WeightedRoute,
    fields: &dyn FieldLookup,
    random: u64,
    unix_now: u64,
) -> Option<(Arc<TargetGroup>, Option<u64>)> {
    let sticky = route.stickiness.as_ref();
    if let Some(sticky) = sticky {
        let mut stuck = None;
        fields.any_field("cookie", &mut |header| {
            stuck = cookie_values(header, sticky.cookie.as_bytes())
                .find_map(|value| sticky.key.open(&route.scope, value, unix_now))
                .and_then(|id| route.groups.iter().find(|(_, w, gid)| *gid == id && *w > 0));
            stuck.is_some()
        });
        if let Some((group, _, id)) = stuck {
            return Some((Arc::clone(group), Some(*id)));
        }
    }
    let mut point = random % route.total.max(1);
    let chosen = route
        .groups
        .iter()
        .find(|(_, weight, _)| {
            let here = point < u64::from(*weight);
            point = point.saturating_sub(u64::from(*weight));
            here
        })
        .or_else(|| route.groups.iter().find(|(_, w, _)| *w > 0))?;
    let (group, _, id) = chosen;
    Some((Arc::clone(group), sticky.map(|_| *id)))
}

/// The group cookie of a sticky weighted forward, as a `Set-Cookie` field value.
pub(crate) fn group_cookie(route: &WeightedRoute, group_id: u64, unix_now: u64) -> Option<String> {
    let sticky = route.stickiness.as_ref()?;
    let seconds = sticky.duration.as_secs();
    let value = sticky.key.seal(&route.scope, group_id, unix_now + seconds);
    Some(format!(
        "{}={value}; Max-Age={seconds}; Path=/; HttpOnly",
        sticky.cookie
    ))
}
