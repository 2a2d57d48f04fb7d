//! Every connection to one target that may still be open, so that when a deregistered
//! target's delay is over all of them can be cut at once, from the control plane's thread,
//! whichever worker drives them (HTTP keep-alive and upgraded connections, L4 flows).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_queue::SegQueue;

use crate::signal::Signal;

/// The cut signals of one target's live connections.
#[derive(Debug)]
pub struct Cuts {
    live: SegQueue<Weak<Signal>>,
    /// Live entries kept before dead ones are swept out, at least.
    live_limit: usize,
    /// Entries at which the next sweep runs: twice what the last one left, so that a target
    /// with many long-lived connections (L4 flows, WebSockets) does not sweep all of them at
    /// every new one (each connection then costs O(1), amortized).
    sweep_at: AtomicUsize,
    /// Sweeps run so far.
    sweeps: AtomicU64,
    /// How many times [`Cuts::cut_all`] began and ended: a sweep that overlapped one (and
    /// held entries out of `live` meanwhile) cuts what it held.
    cuts_begun: AtomicU64,
    cuts_ended: AtomicU64,
}

impl Cuts {
    /// A set that sweeps closed connections out once it holds `live_limit` entries.
    pub fn new(live_limit: usize) -> Self {
        let live_limit = live_limit.max(16);
        Self {
            live: SegQueue::new(),
            live_limit,
            sweep_at: AtomicUsize::new(live_limit),
            sweeps: AtomicU64::new(0),
            cuts_begun: AtomicU64::new(0),
            cuts_ended: AtomicU64::new(0),
        }
    }

    /// Raises the signal of every connection tracked so far.
    pub fn cut_all(&self) {
        self.cuts_begun.fetch_add(1, Ordering::SeqCst);
        self.cut_live();
        self.cuts_ended.fetch_add(1, Ordering::SeqCst);
    }

    fn cut_live(&self) {
        while let Some(signal) = self.live.pop() {
            if let Some(signal) = signal.upgrade() {
                signal.raise();
            }
        }
    }

    /// A cut signal for a new connection, tracked so [`Cuts::cut_all`] reaches it.
    pub fn track(&self) -> Arc<Signal> {
        if self.live.len() >= self.sweep_at.load(Ordering::Relaxed) {
            // Sweep closed connections out.
            self.sweeps.fetch_add(1, Ordering::Relaxed);
            // Cuts that had ended before the sweep took anything out of the set.
            let ended = self.cuts_ended.load(Ordering::SeqCst);
            for _ in 0..self.live.len() {
                match self.live.pop() {
                    Some(old) if old.strong_count() > 0 => self.live.push(old),
                    Some(_) => {}
                    None => break,
                }
            }
            if self.cuts_begun.load(Ordering::SeqCst) != ended {
                // A cut was under way when the sweep began, or began during it: it may have
                // emptied the set while this sweep held entries in hand, and put back after
                // it. Cut again, so none escapes.
                self.cut_live();
            }
            let left = self.live.len();
            self.sweep_at.store(
                left.saturating_mul(2).max(self.live_limit),
                Ordering::Relaxed,
            );
        }
        let signal = Arc::new(Signal::default());
        self.live.push(Arc::downgrade(&signal));
        signal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_reaches_every_live_connection_and_sweeps_keep_the_set_small() {
        let cuts = Cuts::new(16);
        let kept: Vec<_> = (0..5).map(|_| cuts.track()).collect();
        for _ in 0..100 {
            drop(cuts.track());
        }
        assert!(cuts.live.len() <= 32, "{}", cuts.live.len());
        cuts.cut_all();
        assert!(kept.iter().all(|s| s.is_raised()));
        assert!(!cuts.track().is_raised());
    }

    #[test]
    fn a_sweep_during_a_cut_cuts_what_it_held() {
        let cuts = Cuts::new(16);
        let kept: Vec<_> = (0..16).map(|_| cuts.track()).collect();
        // A cut has begun on another thread and not ended: it may already have passed over
        // the entries the sweep below takes out and puts back.
        cuts.cuts_begun.fetch_add(1, Ordering::SeqCst);
        let _next = cuts.track();
        assert_eq!(cuts.sweeps.load(Ordering::Relaxed), 1);
        assert!(kept.iter().all(|s| s.is_raised()));
    }

    #[test]
    fn many_live_connections_are_swept_rarely() {
        // 20,000 connections stay open: sweeping all of them at every new one would be
        // quadratic (it was: 200 µs per new UDP flow at 15,000 flows).
        let cuts = Cuts::new(16);
        let kept: Vec<_> = (0..20_000).map(|_| cuts.track()).collect();
        let sweeps = cuts.sweeps.load(Ordering::Relaxed);
        assert!(sweeps <= 12, "{sweeps} sweeps for 20,000 live connections");
        // Once they close, the set shrinks back at the next sweeps.
        drop(kept);
        for _ in 0..50_000 {
            drop(cuts.track());
        }
        assert!(cuts.live.len() <= 64, "{}", cuts.live.len());
    }
}
