//! Capacity arithmetic: a group's bounds, and how a policy's adjustment turns the current
//! capacity into a new desired one, with EC2 Auto Scaling's rounding.

/// The capacity a group may have, `min ≤ desired ≤ max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Fewest instances.
    pub min: u32,
    /// Most instances.
    pub max: u32,
}

impl Bounds {
    /// `capacity` brought within the bounds.
    pub fn clamp(self, capacity: u32) -> u32 {
        capacity.max(self.min).min(self.max.max(self.min))
    }
}

/// How a step or simple policy changes capacity (ASG's adjustment types).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Adjustment {
    /// Add (or, negative, remove) this many instances: `change_in_capacity`.
    Change(i64),
    /// Set the capacity to this: `exact_capacity`.
    Exact(u32),
    /// Add (or remove) this percentage of the current capacity:
    /// `percent_change_in_capacity`.
    Percent(f64),
}

impl Adjustment {
    /// The capacity after applying this to `current`, within `bounds`.
    ///
    /// A percentage is rounded as ASG rounds it: a change above 1 down (12.7 adds 12), a
    /// change between 0 and 1 (either sign) to one instance, a change below −1 toward zero
    /// (−6.67 removes 6). `min_magnitude` (`min_adjustment_magnitude`) is the fewest
    /// instances a percentage may change, so a small group still moves.
    pub fn apply(self, current: u32, min_magnitude: u32, bounds: Bounds) -> u32 {
        let wanted = match self {
            Adjustment::Change(n) => i64::from(current).saturating_add(n),
            Adjustment::Exact(n) => i64::from(n),
            Adjustment::Percent(p) => {
                let change = percent_change(current, p);
                let magnitude = i64::from(min_magnitude);
                let change = if change != 0 && change.abs() < magnitude {
                    change.signum() * magnitude
                } else {
                    change
                };
                i64::from(current).saturating_add(change)
            }
        };
        let wanted = u32::try_from(wanted.max(0)).unwrap_or(u32::MAX);
        bounds.clamp(wanted)
    }
}

/// `current × percent / 100` in whole instances, rounded as ASG does.
fn percent_change(current: u32, percent: f64) -> i64 {
    let exact = f64::from(current) * percent / 100.0;
    if !exact.is_finite() || exact == 0.0 {
        0
    } else if exact > 0.0 && exact < 1.0 {
        1
    } else if exact < 0.0 && exact > -1.0 {
        -1
    } else {
        // Above 1: down; below −1: toward zero. Both are a truncation.
        exact.trunc() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: Bounds = Bounds { min: 0, max: 1000 };

    #[test]
    fn percentages_round_as_asg_documents() {
        // ASG's own examples: 12.7 → 12, 0.67 → 1, −0.67 → −1, −6.67 → −6.
        assert_eq!(percent_change(127, 10.0), 12);
        assert_eq!(percent_change(3, 22.5), 1);
        assert_eq!(percent_change(3, -22.5), -1);
        assert_eq!(percent_change(20, -33.35), -6);
        assert_eq!(percent_change(10, 0.0), 0);
        assert_eq!(percent_change(0, 50.0), 0);
        assert_eq!(percent_change(10, f64::NAN), 0);
    }

    #[test]
    fn each_adjustment_type_moves_capacity_within_bounds() {
        let bounds = Bounds { min: 2, max: 10 };
        assert_eq!(Adjustment::Change(3).apply(4, 0, bounds), 7);
        assert_eq!(Adjustment::Change(-9).apply(4, 0, bounds), 2, "min holds");
        assert_eq!(Adjustment::Change(i64::MAX).apply(4, 0, bounds), 10);
        assert_eq!(Adjustment::Exact(6).apply(4, 0, bounds), 6);
        assert_eq!(Adjustment::Exact(60).apply(4, 0, bounds), 10, "max holds");
        assert_eq!(Adjustment::Percent(50.0).apply(4, 0, bounds), 6);
        assert_eq!(Adjustment::Percent(-50.0).apply(4, 0, bounds), 2);
    }

    #[test]
    fn min_adjustment_magnitude_makes_small_percentages_count() {
        // 10% of 4 is 0.4: one instance, or three with a magnitude of 3.
        assert_eq!(Adjustment::Percent(10.0).apply(4, 0, WIDE), 5);
        assert_eq!(Adjustment::Percent(10.0).apply(4, 3, WIDE), 7);
        assert_eq!(Adjustment::Percent(-10.0).apply(4, 3, WIDE), 1);
        // A large change is not cut down to the magnitude.
        assert_eq!(Adjustment::Percent(100.0).apply(4, 3, WIDE), 8);
        // It does not apply to the other types.
        assert_eq!(Adjustment::Change(1).apply(4, 3, WIDE), 5);
    }

    proptest::proptest! {
        #[test]
        fn every_adjustment_lands_within_bounds(
            current in 0u32..10_000,
            min in 0u32..500,
            span in 0u32..500,
            change in proptest::num::i64::ANY,
            percent in -1000.0f64..1000.0,
            magnitude in 0u32..50,
        ) {
            let bounds = Bounds { min, max: min + span };
            for a in [Adjustment::Change(change), Adjustment::Exact(current), Adjustment::Percent(percent)] {
                let got = a.apply(current, magnitude, bounds);
                proptest::prop_assert!(bounds.min <= got && got <= bounds.max, "{a:?} -> {got}");
            }
            // A percentage never moves the other way.
            let got = i64::from(Adjustment::Percent(percent).apply(current, magnitude, Bounds { min: 0, max: u32::MAX }));
            proptest::prop_assert!((got - i64::from(current)) * (percent.signum() as i64) >= 0);
        }
    }

    #[test]
    fn bounds_with_min_above_max_keep_min() {
        let odd = Bounds { min: 5, max: 3 };
        assert_eq!(odd.clamp(1), 5);
        assert_eq!(odd.clamp(9), 5);
    }
}
