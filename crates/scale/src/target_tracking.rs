//! Target tracking: keep a metric at a target value by sizing the group in proportion to
//! it, as an ASG target tracking policy does. Scale out quickly (the metric above the target
//! for `SCALE_OUT_PERIODS` periods), scale in conservatively (below it for
//! `SCALE_IN_PERIODS`), never in while instances warm up, and round so as never to
//! undershoot: 1.5 instances needed is 2.

use crate::group::{GroupView, Proposal};

/// Periods (of a minute) the metric must stay above the target before a scale-out (ASG's
/// high alarm: 3 of 3).
pub const SCALE_OUT_PERIODS: u32 = 3;
/// Periods it must stay below before a scale-in (ASG's low alarm: 15 of 15).
pub const SCALE_IN_PERIODS: u32 = 15;

/// A target tracking policy's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetTracking {
    /// The metric's name, for the reasons it gives.
    pub metric: String,
    /// The value to hold the metric at (per instance for counts).
    pub target: f64,
    /// Only ever scale out.
    pub disable_scale_in: bool,
}

/// One period's datapoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datapoint {
    /// The metric's value, averaged over `over` instances.
    pub value: f64,
    /// The instances it is an average over (`None`: the group's ready ones).
    pub over: Option<u32>,
}

/// A target tracking policy and how long its metric has been off target.
#[derive(Debug, Clone)]
pub struct TargetTrackingPolicy {
    /// Its settings.
    pub config: TargetTracking,
    above: u32,
    below: u32,
}

impl TargetTrackingPolicy {
    /// A policy whose metric has not been seen yet.
    pub fn new(config: TargetTracking) -> Self {
        Self {
            config,
            above: 0,
            below: 0,
        }
    }

    /// The capacity that holds the metric at its target: `ready × value / target`, rounded
    /// up (scaling out, 1.5 instances needed adds 2; scaling in, 1.5 too many removes 1).
    /// With no instance ready, `value` is the whole load (it had no one to share it).
    pub fn needed(&self, value: f64, ready: u32) -> u32 {
        let target = self.config.target;
        if target.is_nan() || target <= 0.0 || !value.is_finite() || value <= 0.0 {
            return 0;
        }
        let exact = f64::from(ready.max(1)) * value / target;
        // A hair over a whole number from float error is not another instance.
        let rounded = (exact - 1e-9).ceil();
        if rounded >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            rounded.max(0.0) as u32
        }
    }

    /// Takes one period's datapoint (`None`: no data, which neither scales nor resets the
    /// count) and proposes a capacity when the metric has been off target long enough.
    pub fn observe(&mut self, point: Option<Datapoint>, group: &GroupView) -> Option<Proposal> {
        let point = point?;
        let value = point.value;
        let target = self.config.target;
        if value > target {
            self.above += 1;
            self.below = 0;
        } else if value < target {
            self.below += 1;
            self.above = 0;
        } else {
            self.above = 0;
            self.below = 0;
        }
        let ready = point.over.unwrap_or_else(|| group.ready());
        let needed = group.bounds.clamp(self.needed(value, ready));
        let metric = &self.config.metric;
        if self.above >= SCALE_OUT_PERIODS && needed > group.desired {
            // Warming instances count toward the desired capacity: the same breach does
            // not add them twice. The next change waits for fresh periods, measured with
            // the capacity this one brings.
            let periods = std::mem::take(&mut self.above);
            return Some(Proposal {
                desired: needed,
                reason: format!(
                    "{metric} {value:.2} above the target {target} for {periods} periods on {ready} instances: {needed} needed"
                ),
            });
        }
        if self.below >= SCALE_IN_PERIODS
            && !self.config.disable_scale_in
            && group.warming == 0
            && needed < group.desired
        {
            let periods = std::mem::take(&mut self.below);
            return Some(Proposal {
                desired: needed,
                reason: format!(
                    "{metric} {value:.2} below the target {target} for {periods} periods on {ready} instances: {needed} enough"
                ),
            });
        }
        None
    }

    /// Whether this policy may take part in a scale-in.
    pub fn scales_in(&self) -> bool {
        !self.config.disable_scale_in
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::Bounds;

    fn policy(target: f64) -> TargetTrackingPolicy {
        TargetTrackingPolicy::new(TargetTracking {
            metric: "average_cpu".to_owned(),
            target,
            disable_scale_in: false,
        })
    }

    fn group(desired: u32, warming: u32) -> GroupView {
        GroupView {
            desired,
            warming,
            bounds: Bounds { min: 1, max: 20 },
        }
    }

    /// Feeds `n` datapoints of `value`; the first proposal made, if any.
    fn feed(p: &mut TargetTrackingPolicy, value: f64, n: u32, g: &GroupView) -> Option<Proposal> {
        (0..n).find_map(|_| p.observe(Some(Datapoint { value, over: None }), g))
    }

    #[test]
    fn needed_capacity_rounds_up_both_ways() {
        let p = policy(50.0);
        assert_eq!(p.needed(75.0, 4), 6);
        assert_eq!(p.needed(62.5, 4), 5, "5.0 exactly is 5");
        assert_eq!(p.needed(60.0, 5), 6);
        assert_eq!(p.needed(30.0, 5), 3);
        assert_eq!(p.needed(35.0, 5), 4, "3.5 is 4: one removed fewer");
        assert_eq!(p.needed(0.0, 5), 0);
        assert_eq!(p.needed(f64::NAN, 5), 0);
        assert_eq!(
            p.needed(100.0, 0),
            2,
            "no instance: the value is the whole load"
        );
    }

    #[test]
    fn scales_out_after_three_periods_above_and_in_after_fifteen_below() {
        let mut p = policy(50.0);
        let g = group(4, 0);
        assert_eq!(feed(&mut p, 75.0, 2, &g), None);
        let out = p
            .observe(
                Some(Datapoint {
                    value: 75.0,
                    over: None,
                }),
                &g,
            )
            .unwrap();
        assert_eq!(out.desired, 6);
        assert!(out.reason.contains("above the target"), "{}", out.reason);
        let mut p = policy(50.0);
        assert_eq!(feed(&mut p, 20.0, 14, &g), None);
        assert_eq!(
            p.observe(
                Some(Datapoint {
                    value: 20.0,
                    over: None
                }),
                &g
            )
            .unwrap()
            .desired,
            2
        );
        // A period on target starts the count again.
        let mut p = policy(50.0);
        feed(&mut p, 20.0, 14, &g);
        p.observe(
            Some(Datapoint {
                value: 50.0,
                over: None,
            }),
            &g,
        );
        assert_eq!(feed(&mut p, 20.0, 14, &g), None);
    }

    #[test]
    fn warming_instances_count_toward_a_scale_out_and_block_scale_in() {
        let mut p = policy(50.0);
        // 4 ready at 75%: 6 needed, and 6 are there already (2 warming).
        assert_eq!(feed(&mut p, 75.0, 5, &group(6, 2)), None);
        // A harder breach still adds: 4 ready at 100% need 8.
        assert_eq!(feed(&mut p, 100.0, 3, &group(6, 2)).unwrap().desired, 8);
        let mut p = policy(50.0);
        assert_eq!(feed(&mut p, 10.0, 30, &group(6, 1)), None);
        // Warmed up: 6 at 10% need 1.2, so 2.
        assert_eq!(feed(&mut p, 10.0, 1, &group(6, 0)).unwrap().desired, 2);
    }

    proptest::proptest! {
        /// The capacity needed never leaves the metric above its target, and one fewer
        /// instance would.
        #[test]
        fn needed_capacity_is_the_least_that_holds_the_target(
            ready in 1u32..1000,
            value in 0.01f64..10_000.0,
            target in 0.5f64..1000.0,
        ) {
            let n = f64::from(policy(target).needed(value, ready));
            let load = f64::from(ready) * value;
            proptest::prop_assert!(n * target >= load * (1.0 - 1e-9));
            proptest::prop_assert!((n - 1.0) * target < load);
        }
    }

    #[test]
    fn bounds_and_disable_scale_in_hold() {
        let mut p = policy(10.0);
        assert_eq!(feed(&mut p, 100.0, 3, &group(4, 0)).unwrap().desired, 20);
        let mut p = policy(50.0);
        assert_eq!(
            feed(&mut p, 1.0, 15, &group(4, 0)).unwrap().desired,
            1,
            "min"
        );
        let mut p = TargetTrackingPolicy::new(TargetTracking {
            metric: "average_cpu".to_owned(),
            target: 50.0,
            disable_scale_in: true,
        });
        assert_eq!(feed(&mut p, 1.0, 60, &group(4, 0)), None);
        // Missing data neither scales nor resets.
        let mut p = policy(50.0);
        feed(&mut p, 75.0, 2, &group(4, 0));
        assert_eq!(p.observe(None, &group(4, 0)), None);
        assert!(p
            .observe(
                Some(Datapoint {
                    value: 75.0,
                    over: None
                }),
                &group(4, 0)
            )
            .is_some());
    }
}
