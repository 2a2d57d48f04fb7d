//! When to renew, and how long to wait after a failure: pure functions of their inputs (the
//! clock is passed in), so the decisions are tested without a CA.

use std::time::{Duration, SystemTime};

/// The first retry after a failed issuance or renewal waits this long.
pub(crate) const FIRST_RETRY: Duration = Duration::from_secs(10);

/// Retries back off up to this long between attempts.
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(3600);

/// A certificate that is not due is looked at again at least this often, so a clock that
/// jumps or a file replaced by hand is noticed within a day.
pub(crate) const MAX_SLEEP: Duration = Duration::from_secs(86_400);

/// What to do with the certificate on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Serve it; renewal is due in this long.
    Serve {
        /// Time until `not_after - renew_before`.
        renew_in: Duration,
    },
    /// It expires within `renew_before` (or has expired): get a new one now.
    Renew,
}

/// Whether a certificate valid until `not_after` must be renewed at `now`.
pub(crate) fn plan(now: SystemTime, not_after: SystemTime, renew_before: Duration) -> Plan {
    let Some(renew_at) = not_after.checked_sub(renew_before) else {
        return Plan::Renew;
    };
    match renew_at.duration_since(now) {
        Ok(renew_in) if !renew_in.is_zero() => Plan::Serve { renew_in },
        _ => Plan::Renew,
    }
}

/// How long to wait after `failures` failed attempts in a row (at least one): doubling from
/// [`FIRST_RETRY`] up to [`MAX_RETRY`], so a CA that is down is not hammered and one that
/// comes back is tried again within the hour.
pub(crate) fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_certificate_is_served_until_renew_before_its_expiry() {
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let not_after = now + 90 * DAY;
        assert_eq!(
            plan(now, not_after, 30 * DAY),
            Plan::Serve { renew_in: 60 * DAY }
        );
        assert_eq!(plan(now + 60 * DAY, not_after, 30 * DAY), Plan::Renew);
        assert_eq!(plan(now + 61 * DAY, not_after, 30 * DAY), Plan::Renew);
        assert_eq!(
            plan(now + 100 * DAY, not_after, 30 * DAY),
            Plan::Renew,
            "expired"
        );
    }

    #[test]
    fn renew_before_longer_than_the_validity_renews_at_once() {
        let now = SystemTime::UNIX_EPOCH + 10 * DAY;
        assert_eq!(plan(now, now + 90 * DAY, 100 * DAY), Plan::Renew);
        // Longer than the whole epoch: no underflow, just renew.
        assert_eq!(plan(now, now + DAY, 100_000 * DAY), Plan::Renew);
    }

    #[test]
    fn failures_back_off_exponentially_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(3), Duration::from_secs(40));
        assert_eq!(backoff(9), Duration::from_secs(2560));
        assert_eq!(backoff(10), MAX_RETRY);
        assert_eq!(backoff(u32::MAX), MAX_RETRY);
        assert_eq!(backoff(0), FIRST_RETRY);
    }
}
