//! Log lines a client can cause, rate-limited per kind: a flood of bad requests or failed
//! handshakes must not turn into a log line each (disk, CPU, a blocked stderr). Each kind
//! writes at most so many lines a second; the lines it holds back are counted and reported
//! with the next line it writes. Metrics still count every event.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// A rate limit for one kind of log line. Lock-free; meant for `static` items.
#[derive(Debug)]
pub struct LogLimiter {
    per_second: u32,
    second: AtomicU64,
    written: AtomicU32,
    suppressed: AtomicU64,
}

impl LogLimiter {
    /// At most `per_second` lines a second.
    pub const fn new(per_second: u32) -> Self {
        Self {
            per_second,
            second: AtomicU64::new(0),
            written: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether a line may be written now; `Some(n)`: yes, and `n` lines were held back since
    /// the last one written (say so in the line).
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(seconds_since_start())
    }

    /// [`LogLimiter::allow`] at a given second (for tests).
    pub fn allow_at(&self, second: u64) -> Option<u64> {
        let current = self.second.load(Ordering::Relaxed);
        if second != current
            && self
                .second
                .compare_exchange(current, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.written.store(0, Ordering::Relaxed);
        }
        if self.written.fetch_add(1, Ordering::Relaxed) < self.per_second {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

fn seconds_since_start() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_few_lines_a_second_and_counts_the_rest() {
        let limiter = LogLimiter::new(3);
        let allowed: Vec<_> = (0..10).map(|_| limiter.allow_at(5)).collect();
        assert_eq!(allowed.iter().filter(|a| a.is_some()).count(), 3);
        assert_eq!(
            limiter.allow_at(6),
            Some(7),
            "the held-back lines are reported"
        );
        assert_eq!(limiter.allow_at(6), Some(0));
    }
}
