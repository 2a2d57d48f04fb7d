//! Sticky sessions on the request path: which target a request's cookie sticks it to, and
//! the cookie that keeps it there. Only groups with `stickiness` pay for any of this.

use std::time::Instant;

use ballast_config::StickinessKind;

use crate::affinity::cookie_values;
use crate::head::FieldLookup;
use crate::snapshot::TargetGroup;

/// The index of the target a request is stuck to: one of its cookies of the group's name is
/// genuine, not expired (at `unix_now`), and names a target that may take traffic at
/// `now`. Anything else balances the request afresh (and the response sticks it to the new
/// target). Every cookie of that name is tried: another group on the same host may use the
/// same name.
pub(crate) fn stuck_target(
    group: &TargetGroup,
    fields: &dyn FieldLookup,
    now: Instant,
    unix_now: u64,
) -> Option<usize> {
    let sticky = group.stickiness.as_ref()?;
    let name = sticky.config.cookie.name.as_bytes();
    let mut id = None;
    fields.any_field("cookie", &mut |header| {
        id = cookie_values(header, name).find_map(|v| sticky.key.open(&group.name.0, v, unix_now));
        id.is_some()
    });
    let index = group.targets.iter().position(|t| Some(t.id) == id)?;
    group.targets[index].state.is_eligible(now).then_some(index)
}

/// Ballast's cookie for a response from target `target_id`, as a `Set-Cookie` field value:
/// always for `lb_cookie` (renewing the duration on every response, as ALB does); for
/// `app_cookie` when the target sets the application's cookie (`sets_app_cookie` tells) or
/// the request was already stuck.
pub(crate) fn stick(
    group: &TargetGroup,
    target_id: u64,
    was_stuck: bool,
    sets_app_cookie: impl FnOnce(&str) -> bool,
    unix_now: u64,
) -> Option<String> {
    let sticky = group.stickiness.as_ref()?;
    let applies = match &sticky.config.kind {
        StickinessKind::LbCookie => true,
        StickinessKind::AppCookie(app) => was_stuck || sets_app_cookie(app),
    };
    if !applies {
        return None;
    }
    let seconds = sticky.config.duration.as_secs();
    let value = sticky
        .key
        .seal(&group.name.0, target_id, unix_now + seconds);
    let name = &sticky.config.cookie.name;
    let mut text = String::with_capacity(name.len() + 1 + value.len() + sticky.attributes.len());
    text.push_str(name);
    text.push('=');
    text.push_str(&value);
    text.push_str(&sticky.attributes);
    Some(text)
}

/// Whether a `Set-Cookie` value sets cookie `name`.
pub(crate) fn sets_cookie(value: &[u8], name: &str) -> bool {
    value
        .strip_prefix(name.as_bytes())
        .is_some_and(|rest| rest.first() == Some(&b'='))
}
/// Whether a response's fields set the cookie `app` (an `app_cookie` group's).
pub(crate) fn sets_app_cookie(headers: &http::HeaderMap, app: &str) -> bool {
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .any(|v| sets_cookie(v.as_bytes(), app))
}
