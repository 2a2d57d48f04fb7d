//! Sticky sessions on the request path: which target a request's cookie sticks it to, and
//! the cookie that keeps it there. Only groups with `stickiness` pay for any of this.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ballast_balance::StickyKey;
use ballast_config::{StickinessConfig, StickinessKind};
use http::{header, HeaderMap, HeaderValue};

use crate::affinity::cookie_value;
use crate::snapshot::TargetGroup;

/// A group's stickiness settings with the key that seals its cookies.
#[derive(Debug)]
pub struct Sticky {
    /// What the configuration says.
    pub config: StickinessConfig,
    /// Seals and opens the cookies (shared by every group of the process).
    pub key: StickyKey,
}

/// The index of the target a request is stuck to: its cookie is genuine, not expired, and
/// names a target that may take traffic now. Anything else balances the request afresh (and
/// the response sticks it to the new target).
pub(crate) fn stuck_target(
    group: &TargetGroup,
    headers: &HeaderMap,
    now: Instant,
) -> Option<usize> {
    let sticky = group.stickiness.as_ref()?;
    let name = sticky.config.cookie.name.as_bytes();
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .find_map(|h| cookie_value(h.as_bytes(), name))?;
    let id = sticky.key.open(&group.name.0, value, unix_now())?;
    let index = group.targets.iter().position(|t| t.id == id)?;
    group.targets[index].state.is_eligible(now).then_some(index)
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
    let cookie = &sticky.config.cookie;
    let mut text = format!(
        "{}={value}; Max-Age={seconds}; Path={}",
        cookie.name, cookie.path
    );
    if let Some(domain) = &cookie.domain {
        text.push_str("; Domain=");
        text.push_str(domain);
    }
    if cookie.secure {
        text.push_str("; Secure");
    }
    if cookie.http_only {
        text.push_str("; HttpOnly");
    }
    if let Some(same_site) = cookie.same_site {
        text.push_str("; SameSite=");
        text.push_str(same_site);
    }
    if let Ok(value) = HeaderValue::from_str(&text) {
        headers.append(header::SET_COOKIE, value);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
