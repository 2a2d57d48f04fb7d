//! Load signals of a target that load-aware algorithms read: open connections and a
//! peak-EWMA of response time (Finagle's and Linkerd's "peak EWMA").

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::TargetState;

/// How fast the latency average forgets: a sample's weight halves in about 7 s, so a target
/// that was slow once is tried again soon and earns its share back (Linkerd's default).
const DECAY: Duration = Duration::from_secs(10);

/// Counts one open connection to a target until dropped.
#[must_use = "the connection counts as open only while this guard lives"]
#[derive(Debug)]
pub struct OpenConnection {
    state: Arc<TargetState>,
}

impl TargetState {
    /// Counts a new connection to the target; it ends when the guard drops (the connection
    /// task keeps it).
    pub fn open_connection(self: &Arc<Self>) -> OpenConnection {
        self.connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection {
            state: Arc::clone(self),
        }
    }

    /// Connections open to the target now.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Records the time a target took to send its response head. A sample above the
    /// average replaces it at once (peak); a lower one pulls it down gradually.
    pub fn record_latency(&self, latency: Duration, now: Instant) {
        let sample = latency.as_secs_f64() * 1e6;
        let now_ms = self.ms(now).max(1);
        let (old, since) = self.latency_now(now_ms);
        let next = if old == 0.0 || sample > old {
            sample
        } else {
            let keep = (-since / DECAY.as_secs_f64()).exp();
            old * keep + sample * (1.0 - keep)
        };
        self.latency_bits.store(next.to_bits(), Ordering::Relaxed);
        self.latency_stamp.store(now_ms, Ordering::Relaxed);
    }

    /// The latency average in µs at `now`, decayed towards zero for the time without a
    /// sample; 0 when the target never answered.
    pub fn latency_estimate(&self, now: Instant) -> f64 {
        let (value, since) = self.latency_now(self.ms(now));
        value * (-since / DECAY.as_secs_f64()).exp()
    }

    /// The stored average and the seconds since it was stored.
    fn latency_now(&self, now_ms: u64) -> (f64, f64) {
        let value = f64::from_bits(self.latency_bits.load(Ordering::Relaxed));
        let stamp = self.latency_stamp.load(Ordering::Relaxed);
        (value, now_ms.saturating_sub(stamp) as f64 / 1000.0)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.state.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HealthReason, HealthState};

    fn target() -> Arc<TargetState> {
        Arc::new(TargetState::new(HealthState::Healthy, HealthReason::None))
    }

    #[test]
    fn connections_follow_guards() {
        let t = target();
        let a = t.open_connection();
        let b = t.open_connection();
        assert_eq!(t.connections(), 2);
        drop(a);
        drop(b);
        assert_eq!(t.connections(), 0);
    }

    #[test]
    fn latency_jumps_to_peaks_and_decays_without_samples() {
        let t = target();
        let start = Instant::now();
        assert_eq!(t.latency_estimate(start), 0.0);
        t.record_latency(Duration::from_millis(10), start);
        assert!((t.latency_estimate(start) - 10_000.0).abs() < 1.0);
        t.record_latency(Duration::from_millis(100), start);
        assert!(
            (t.latency_estimate(start) - 100_000.0).abs() < 1.0,
            "a peak is taken at once"
        );
        // A fast sample right away barely moves it; later samples pull it down.
        t.record_latency(Duration::from_millis(1), start);
        assert!(t.latency_estimate(start) > 99_000.0);
        let later = start + Duration::from_secs(10);
        let decayed = t.latency_estimate(later);
        assert!(decayed < 40_000.0 && decayed > 30_000.0, "{decayed}");
        t.record_latency(Duration::from_millis(1), later);
        assert!(t.latency_estimate(later) < 40_000.0);
    }
}
