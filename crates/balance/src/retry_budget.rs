//! A retry budget: retries may add at most a share of recent traffic, so a failing group is
//! not hammered by its own retries (Linkerd's and Finagle's retry budgets).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

const TOKEN: i64 = 1000;

/// Token bucket in atomics: every request deposits `percent`/100 of a retry, every second
/// adds `min_per_second` retries, and a retry withdraws one. The balance is capped so a long
/// quiet period cannot save up a storm.
#[derive(Debug)]
pub struct RetryBudget {
    deposit: i64,
    per_second: i64,
    cap: i64,
    base: Instant,
    /// Milli-retries available.
    tokens: AtomicI64,
    /// Last whole second (after `base`) whose allowance was added.
    refilled: AtomicU64,
}

impl RetryBudget {
    /// A budget allowing `percent` % of requests as retries, plus `min_per_second` retries.
    pub fn new(percent: u32, min_per_second: u32, now: Instant) -> Self {
        let per_second = i64::from(min_per_second) * TOKEN;
        Self {
            deposit: i64::from(percent) * TOKEN / 100,
            per_second,
            // Ten seconds of the minimum, or a hundred retries, whichever is more.
            cap: (per_second * 10).max(100 * TOKEN),
            base: now,
            tokens: AtomicI64::new(per_second),
            refilled: AtomicU64::new(0),
        }
    }

    /// Counts one request towards the budget.
    pub fn deposit(&self) {
        if self.deposit > 0 && self.tokens.load(Ordering::Relaxed) < self.cap {
            self.tokens.fetch_add(self.deposit, Ordering::Relaxed);
        }
    }

    /// Takes one retry from the budget at `now`; `false` when it is spent.
    pub fn try_withdraw(&self, now: Instant) -> bool {
        let second = now.saturating_duration_since(self.base).as_secs();
        let last = self.refilled.load(Ordering::Relaxed);
        if second > last
            && self
                .refilled
                .compare_exchange(last, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let add = self
                .per_second
                .saturating_mul(i64::try_from(second - last).unwrap_or(i64::MAX));
            let current = self.tokens.load(Ordering::Relaxed);
            self.tokens
                .fetch_add(add.min(self.cap - current.min(self.cap)), Ordering::Relaxed);
        }
        if self.tokens.fetch_sub(TOKEN, Ordering::Relaxed) >= TOKEN {
            true
        } else {
            self.tokens.fetch_add(TOKEN, Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retries_are_bounded_by_a_share_of_requests() {
        let start = Instant::now();
        let budget = RetryBudget::new(20, 0, start);
        for _ in 0..100 {
            budget.deposit();
        }
        let allowed = (0..100).filter(|_| budget.try_withdraw(start)).count();
        assert_eq!(allowed, 20);
    }

    #[test]
    fn a_quiet_group_still_gets_its_minimum_each_second() {
        let start = Instant::now();
        let budget = RetryBudget::new(20, 3, start);
        assert_eq!((0..10).filter(|_| budget.try_withdraw(start)).count(), 3);
        let later = start + Duration::from_secs(1);
        assert_eq!((0..10).filter(|_| budget.try_withdraw(later)).count(), 3);
    }

    #[test]
    fn savings_are_capped() {
        let start = Instant::now();
        let budget = RetryBudget::new(100, 1, start);
        for _ in 0..1_000 {
            budget.deposit();
        }
        let allowed = (0..1_000).filter(|_| budget.try_withdraw(start)).count();
        assert!(allowed <= 101, "{allowed}");
    }
}
