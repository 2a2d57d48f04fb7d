//! One sample of a scaling group's load: what its targets saw since the last one (requests,
//! response time, health, connections) and its instances' CPU use.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ballast_scale::fleet::{Fleet, InstanceState};
use ballast_scale::sample::{Sample, SAMPLE};

use crate::{HealthState, Runtime};

/// The counters read at the last sample, to take differences from.
pub(super) struct Meter {
    requests: HashMap<SocketAddr, u64>,
    /// The target group's response-time histogram: sum in µs and count.
    response_time: Option<(u64, u64)>,
    last: Instant,
}

impl Meter {
    pub(super) fn new() -> Self {
        Self {
            requests: HashMap::new(),
            response_time: None,
            last: Instant::now(),
        }
    }

    /// Reads the group `group` at `now`, sets each instance's health in `fleet`, and
    /// returns the sample of the interval since the last call.
    pub(super) fn sample(
        &mut self,
        runtime: &Runtime,
        group: &str,
        now: Instant,
        fleet: &mut Fleet,
        mut cpu: impl FnMut(&str) -> Option<f64>,
    ) -> Sample {
        let targets: Vec<_> = runtime
            .target_health()
            .into_iter()
            .filter(|t| t.group.0.as_ref() == group)
            .collect();
        let healthy: HashMap<SocketAddr, bool> = targets
            .iter()
            .map(|t| (t.address, t.state == HealthState::Healthy))
            .collect();
        fleet.set_health(|a| healthy.get(&a).copied().unwrap_or(false));
        let mut requests = 0u64;
        for t in &targets {
            let before = self
                .requests
                .insert(t.address, t.requests)
                .unwrap_or(t.requests);
            // A count below the last one is a new target at that address: all of it is new.
            requests += if t.requests < before {
                t.requests
            } else {
                t.requests - before
            };
        }
        self.requests.retain(|a, _| healthy.contains_key(a));
        // A sample stands for 10 s: a slow provider call that delayed this one must not
        // read as a burst.
        let elapsed = now.duration_since(self.last).max(SAMPLE);
        self.last = now;
        let requests = requests as f64 * SAMPLE.as_secs_f64() / elapsed.as_secs_f64();
        let cpus: Vec<f64> = fleet
            .instances
            .iter()
            .filter(|i| i.state == InstanceState::Registered && i.healthy)
            .filter_map(|i| cpu(i.id.as_deref()?))
            .collect();
        Sample {
            requests,
            serving: healthy.values().filter(|h| **h).count() as u32,
            cpu: (!cpus.is_empty()).then(|| cpus.iter().sum::<f64>() / cpus.len() as f64),
            response_time_ms: self.response_time(runtime, group),
            connections: Some(targets.iter().map(|t| t.in_flight as f64).sum()),
        }
    }

    /// The mean time to a response head over the interval, in milliseconds, from the target
    /// group's histogram (counted when `[metrics]` is enabled, which a policy on this
    /// metric requires); `None` when no response came.
    fn response_time(&mut self, runtime: &Runtime, group: &str) -> Option<f64> {
        let histogram = runtime
            .metrics()
            .find_group(group)?
            .response_time
            .snapshot();
        let now = (histogram.sum_us, histogram.count);
        let before = self.response_time.replace(now)?;
        mean_ms(before, now)
    }
}

/// The mean of the observations between two readings `(sum_us, count)`, in milliseconds.
fn mean_ms(before: (u64, u64), now: (u64, u64)) -> Option<f64> {
    let count = now.1.checked_sub(before.1).filter(|c| *c > 0)?;
    let sum = now.0.checked_sub(before.0)?;
    Some(Duration::from_micros(sum).as_secs_f64() * 1000.0 / count as f64)
}

#[cfg(test)]
mod tests {
    use super::mean_ms;

    #[test]
    fn the_mean_is_over_the_interval_only() {
        assert_eq!(mean_ms((1_000, 1), (31_000, 4)), Some(10.0));
        assert_eq!(mean_ms((5, 2), (5, 2)), None, "no response: no data");
        // A histogram that went back (the group was removed and added again): no data.
        assert_eq!(mean_ms((50_000, 9), (1_000, 1)), None);
    }
}
