//! Weighted forwarding to several target groups (blue-green, canary), with target group
//! stickiness: a client keeps the group it was first sent to for a while, through a sealed
//! cookie, so a canary does not flap between versions from one request to the next.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ballast_balance::StickyKey;
use http::{header, HeaderMap, HeaderValue};

use crate::affinity::cookie_values;
use crate::snapshot::TargetGroup;

/// A compiled weighted forward.
#[derive(Debug)]
pub struct WeightedRoute {
    /// Each group with its weight and stable identity (the hash of its name).
    pub groups: Vec<(Arc<TargetGroup>, u32, u64)>,
    /// Sum of the weights (at least 1).
    pub total: u64,
    /// Target group stickiness, if on.
    pub stickiness: Option<GroupStickiness>,
    /// What cookies are bound to (the listener's name): a cookie of another listener never
    /// opens here.
    pub scope: Arc<str>,
}

/// Target group stickiness settings.
#[derive(Debug)]
pub struct GroupStickiness {
    /// How long a client keeps its group after its last request.
    pub duration: Duration,
    /// Seals the cookie.
    pub key: StickyKey,
    /// Cookie name.
    pub cookie: String,
}

/// The group a request goes to: the one its cookie sticks it to (if genuine, unexpired and
/// still weighted above 0), else one drawn by weight. Also returns the group's identity for
/// the response's cookie when stickiness is on. `None` only for a route without groups,
/// which validation never builds.
pub(crate) fn choose(
    route: &WeightedRoute,
    headers: &HeaderMap,
    random: u64,
) -> Option<(Arc<TargetGroup>, Option<u64>)> {
    let sticky = route.stickiness.as_ref();
    if let Some(sticky) = sticky {
        let now = unix_now();
        let stuck = headers
            .get_all(header::COOKIE)
            .iter()
            .flat_map(|h| cookie_values(h.as_bytes(), sticky.cookie.as_bytes()))
            .find_map(|value| sticky.key.open(&route.scope, value, now))
            .and_then(|id| route.groups.iter().find(|(_, w, gid)| *gid == id && *w > 0));
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

/// Adds the group cookie to a response of a sticky weighted forward.
pub(crate) fn stick_group(route: &WeightedRoute, group_id: u64, headers: &mut HeaderMap) {
    let Some(sticky) = route.stickiness.as_ref() else {
        return;
    };
    let seconds = sticky.duration.as_secs();
    let value = sticky
        .key
        .seal(&route.scope, group_id, unix_now() + seconds);
    let text = format!(
        "{}={value}; Max-Age={seconds}; Path=/; HttpOnly",
        sticky.cookie
    );
    if let Ok(value) = HeaderValue::from_str(&text) {
        headers.append(header::SET_COOKIE, value);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
