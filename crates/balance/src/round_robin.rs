//! Round robin: each target in turn.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Sends request *k* to target *k mod n*.
///
/// One shared counter for all workers, so N requests over n targets land exactly N/n on each
/// (what users check first when they test a load balancer), whichever thread serves them.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// A counter starting at the first target.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next position, counting every pick since the group was created.
    pub fn next(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Index of the next target among `n`, or `None` when there is none.
    pub fn pick(&self, n: usize) -> Option<usize> {
        if n == 0 {
            return None;
        }
        Some(self.next.fetch_add(1, Ordering::Relaxed) % n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_group_has_no_pick() {
        assert_eq!(RoundRobin::new().pick(0), None);
    }

    #[test]
    fn visits_targets_in_order() {
        let rr = RoundRobin::new();
        let picks: Vec<_> = (0..7).map(|_| rr.pick(3).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2, 0]);
    }

    proptest! {
        #[test]
        fn spreads_whole_rounds_exactly_evenly(n in 1usize..64, rounds in 1usize..50, start in 0usize..1000) {
            let rr = RoundRobin { next: AtomicUsize::new(start) };
            let mut counts = vec![0usize; n];
            for _ in 0..n * rounds {
                counts[rr.pick(n).unwrap()] += 1;
            }
            prop_assert!(counts.iter().all(|&c| c == rounds));
        }
    }
}
