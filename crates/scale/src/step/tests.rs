use std::time::Duration;

use super::*;
use crate::alarm::{Comparison, MissingData, Statistic};
use crate::capacity::Bounds;

fn step(lower: Option<f64>, upper: Option<f64>, adjustment: f64) -> Step {
    Step {
        lower,
        upper,
        adjustment,
    }
}

fn alarm(threshold: f64, comparison: Comparison) -> Alarm {
    Alarm {
        statistic: Statistic::Average,
        comparison,
        threshold,
        evaluation_periods: 1,
        datapoints_to_alarm: 1,
        missing: MissingData::Missing,
    }
}

fn group(desired: u32, warming: u32) -> GroupView {
    GroupView {
        desired,
        warming,
        bounds: Bounds { min: 1, max: 100 },
    }
}

#[test]
fn asgs_example_steps_pick_by_distance_from_the_threshold() {
    // Threshold 50: [0,10) no change, [10,20) +10%, [20,∞) +30%.
    let steps = check_steps(&[
        step(Some(20.0), None, 30.0),
        step(Some(0.0), Some(10.0), 0.0),
        step(Some(10.0), Some(20.0), 10.0),
    ])
    .unwrap();
    let mut p = StepPolicy::new(
        alarm(50.0, Comparison::GreaterOrEqual),
        AdjustmentKind::Percent,
        steps,
        0,
    );
    let g = group(10, 0);
    assert_eq!(p.evaluate(&[Some(55.0)], &g), None, "first step: no change");
    assert_eq!(
        p.evaluate(&[Some(60.0)], &g).unwrap().desired,
        11,
        "60 is in [10,20)"
    );
    assert_eq!(p.evaluate(&[Some(69.9)], &g).unwrap().desired, 11);
    assert_eq!(
        p.evaluate(&[Some(70.0)], &g).unwrap().desired,
        13,
        "70 is in [20,∞)"
    );
    assert_eq!(p.evaluate(&[Some(40.0)], &g), None, "out of alarm");
    assert_eq!(p.state(), AlarmState::Ok);
}

#[test]
fn below_the_threshold_the_upper_bound_is_inclusive() {
    let steps = check_steps(&[
        step(None, Some(-10.0), -2.0),
        step(Some(-10.0), Some(0.0), -1.0),
    ])
    .unwrap();
    let mut p = StepPolicy::new(
        alarm(30.0, Comparison::LessOrEqual),
        AdjustmentKind::Change,
        steps,
        0,
    );
    let g = group(6, 0);
    assert_eq!(p.evaluate(&[Some(25.0)], &g).unwrap().desired, 5);
    assert_eq!(
        p.evaluate(&[Some(20.0)], &g).unwrap().desired,
        4,
        "−10 is in (−∞, −10]"
    );
    assert_eq!(p.evaluate(&[Some(19.0)], &g).unwrap().desired, 4);
    // No scale-in while an instance warms up.
    assert_eq!(p.evaluate(&[Some(19.0)], &group(6, 1)), None);
}

#[test]
fn a_scale_out_does_not_stack_on_instances_still_warming() {
    let steps = check_steps(&[step(Some(0.0), None, 2.0)]).unwrap();
    let mut p = StepPolicy::new(
        alarm(50.0, Comparison::GreaterOrEqual),
        AdjustmentKind::Change,
        steps,
        0,
    );
    assert_eq!(p.evaluate(&[Some(90.0)], &group(4, 0)).unwrap().desired, 6);
    // The next alarm while those 2 warm: 4 ready + 2 = 6, already there.
    assert_eq!(p.evaluate(&[Some(90.0)], &group(6, 2)), None);
    assert_eq!(p.evaluate(&[Some(90.0)], &group(6, 0)).unwrap().desired, 8);
}

#[test]
fn step_lists_are_checked_as_asg_checks_them() {
    assert_eq!(check_steps(&[]), Err(StepError::Empty));
    assert_eq!(
        check_steps(&[step(None, None, 1.0)]),
        Err(StepError::Unbounded(0))
    );
    assert_eq!(
        check_steps(&[step(Some(5.0), Some(5.0), 1.0)]),
        Err(StepError::Inverted(0))
    );
    assert_eq!(
        check_steps(&[
            step(Some(0.0), Some(10.0), 1.0),
            step(Some(20.0), None, 2.0)
        ]),
        Err(StepError::NotContiguous(0, 1))
    );
    assert_eq!(
        check_steps(&[step(Some(0.0), Some(10.0), 1.0)]),
        Err(StepError::OpenAbove)
    );
    assert_eq!(
        check_steps(&[step(Some(-10.0), Some(0.0), -1.0)]),
        Err(StepError::OpenBelow)
    );
    let many: Vec<Step> = (0..21)
        .map(|i| step(Some(f64::from(i)), Some(f64::from(i + 1)), 1.0))
        .collect();
    assert_eq!(check_steps(&many), Err(StepError::TooMany));
}

#[test]
fn simple_scaling_waits_for_its_activity_and_cooldown() {
    let mut p = SimplePolicy::new(
        alarm(50.0, Comparison::GreaterOrEqual),
        Adjustment::Change(1),
        0,
        Duration::from_secs(300),
    );
    let at = Duration::from_secs;
    assert_eq!(
        p.evaluate(at(0), &[Some(90.0)], &group(2, 0))
            .unwrap()
            .desired,
        3
    );
    // The launch is in progress: no more, however long the alarm lasts.
    assert_eq!(p.evaluate(at(60), &[Some(90.0)], &group(3, 1)), None);
    p.activity_done(at(120));
    assert_eq!(
        p.evaluate(at(419), &[Some(90.0)], &group(3, 0)),
        None,
        "cooling down"
    );
    assert_eq!(
        p.evaluate(at(420), &[Some(90.0)], &group(3, 0))
            .unwrap()
            .desired,
        4
    );
    // Out of alarm: nothing, and nothing to wait for.
    let mut p = SimplePolicy::new(
        alarm(50.0, Comparison::GreaterOrEqual),
        Adjustment::Change(1),
        0,
        Duration::from_secs(300),
    );
    assert_eq!(p.evaluate(at(0), &[Some(10.0)], &group(2, 0)), None);
    assert_eq!(
        p.evaluate(at(1), &[Some(90.0)], &group(2, 0))
            .unwrap()
            .desired,
        3
    );
}
