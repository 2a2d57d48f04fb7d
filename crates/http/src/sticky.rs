//! Sticky sessions on the request path: which target a request's cookie sticks it to, and
//! the cookie that keeps it there. Only groups with `stickiness` pay for any of this.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ballast_balance::StickyKey;
use ballast_config::{StickinessConfig, StickinessKind};
use http::{header, HeaderMap, HeaderValue};

use crate::affinity::cookie_values;
use crate::snapshot::TargetGroup;

/// A group's stickiness settings with the key that seals its cookies.
#[derive(Debug)]
pub struct Sticky {
    /// What the configuration says.
    pub config: StickinessConfig,
    /// Seals and opens the cookies (shared by every group of the process).
    pub key: StickyKey,
    /// `; Max-Age=..; Path=..` and the other attributes, written once per snapshot.
    attributes: String,
}

impl Sticky {
    /// The settings of one group, with its cookie attributes prepared.
    pub fn new(config: StickinessConfig, key: StickyKey) -> Self {
        let cookie = &config.cookie;
        let mut attributes = format!(
            "; Max-Age={}; Path={}",
            config.duration.as_secs(),
            cookie.path
        );
        if let Some(domain) = &cookie.domain {
            attributes.push_str("; Domain=");
            attributes.push_str(domain);
        }
        if cookie.secure {
            attributes.push_str("; Secure");
        }
        if cookie.http_only {
            attributes.push_str("; HttpOnly");
        }
        if let Some(same_site) = cookie.same_site {
            attributes.push_str("; SameSite=");
            attributes.push_str(same_site);
        }
        Self {
            config,
            key,
            attributes,
        }
    }
}

/// The index of the target a request is stuck to: one of its cookies of the group's name is
/// genuine, not expired, and names a target that may take traffic now. Anything else
/// balances the request afresh (and the response sticks it to the new target). Every cookie
/// of that name is tried: another group on the same host may use the same name.
pub(crate) fn stuck_target(group: &TargetGroup, headers: &HeaderMap) -> Option<usize> {
    let sticky = group.stickiness.as_ref()?;
    let name = sticky.config.cookie.name.as_bytes();
    let now = unix_now();
    let id = headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|h| cookie_values(h.as_bytes(), name))
        .find_map(|value| sticky.key.open(&group.name.0, value, now))?;
    let index = group.targets.iter().position(|t| t.id == id)?;
    group.targets[index]
        .state
        .is_eligible(Instant::now())
        .then_some(index)
}

/// Adds Ballast's cookie to a response from target `target_id`: always for `lb_cookie`
/// (renewing the duration on every response, as ALB does); for `app_cookie` when the target
/// sets the application's cookie or the request was already stuck.
pub(crate) fn stick(group: &TargetGroup, target_id: u64, was_stuck: bool, headers: &mut HeaderMap) {
    let Some(sticky) = group.stickiness.as_ref() else {
        return;
    };
    let applies = match &sticky.config.kind {
        StickinessKind::LbCookie => true,
        StickinessKind::AppCookie(app) => {
            was_stuck
                || headers.get_all(header::SET_COOKIE).iter().any(|v| {
                    v.as_bytes()
                        .strip_prefix(app.as_bytes())
                        .is_some_and(|rest| rest.first() == Some(&b'='))
                })
        }
    };
    if !applies {
        return;
    }
    let seconds = sticky.config.duration.as_secs();
    let value = sticky
        .key
        .seal(&group.name.0, target_id, unix_now() + seconds);
    let name = &sticky.config.cookie.name;
    let mut text = String::with_capacity(name.len() + 1 + value.len() + sticky.attributes.len());
    text.push_str(name);
    text.push('=');
    text.push_str(&value);
    text.push_str(&sticky.attributes);
    if let Ok(value) = HeaderValue::from_str(&text) {
        headers.append(header::SET_COOKIE, value);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
