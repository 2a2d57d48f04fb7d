//! The scaler in virtual time, through the simulator: each policy kind against a load it
//! should answer, read from a real configuration.

use super::*;

fn group(body: &str) -> ScalingGroupConfig {
    let text = format!(
        "[listeners.web]\nbind = \"127.0.0.1:8080\"\ndefault_action = {{ forward = \"app\" }}\n[target_groups.app]\n[scaling_groups.app]\ntarget_group = \"app\"\nprovider = {{ command = {{ launch = \"l\", terminate = \"t\" }} }}\n{body}\n"
    );
    match ballast_config::parse(&text) {
        Ok(config) => config.scaling_groups[0].clone(),
        Err(e) => panic!("{e}"),
    }
}

fn start() -> Timestamp {
    "2026-01-05T00:00:00Z".parse().unwrap()
}

const MIN: Duration = Duration::from_secs(60);

fn run(config: &ScalingGroupConfig, load: Load, minutes: u64) -> (Vec<Minute>, Vec<Activity>) {
    simulate(
        config,
        &load,
        &World::default(),
        start(),
        MIN * minutes as u32,
    )
    .unwrap()
}

#[test]
fn target_tracking_follows_a_step_out_quickly_and_back_in_slowly() {
    let config = group(
        "min = 2\nmax = 20\npolicies = [{ type = \"target_tracking\", metric = \"request_count_per_target\", target = 500 }]",
    );
    let load = Load::Spike {
        base: 1000.0,
        peak: 5000.0,
        at: MIN * 30,
        length: MIN * 60,
    };
    let (minutes, activities) = run(&config, load, 180);
    let at = |m: usize| &minutes[m - 1];
    assert_eq!(at(29).desired, 2);
    // 3 minutes above target, then 10 instances (5000 / 500).
    assert_eq!(at(33).desired, 10, "{activities:#?}");
    assert!(at(40).in_service >= 10);
    assert_eq!(at(89).desired, 10, "held while the load lasts");
    // The load falls at 90: 15 minutes below target before the scale-in.
    assert_eq!(at(100).desired, 10);
    assert_eq!(at(120).desired, 2, "{activities:#?}");
    assert!(activities
        .iter()
        .all(|a| a.cause == "policies[0] target_tracking"));
}

#[test]
fn a_step_policy_adds_by_how_far_the_cpu_is_past_its_threshold() {
    let config = group(
        "min = 2\nmax = 20\ndefault_instance_warmup = \"2m\"\npolicies = [{ type = \"step\", alarm = { metric = \"average_cpu\", comparison = \">=\", threshold = 60, evaluation_periods = 2 }, adjustment_type = \"change_in_capacity\", steps = [{ lower = 0, upper = 30, adjustment = 1 }, { lower = 30, adjustment = 4 }] }]",
    );
    // 2 instances of 1000 req/min: 1300 is 65% (step 1), 1900 is 95% (step 2).
    let (minutes, activities) = run(
        &config,
        Load::Step {
            from: 1300.0,
            to: 1900.0,
            at: MIN * 60,
        },
        120,
    );
    assert!(!activities.is_empty());
    let first = &activities[0];
    assert_eq!(
        first.desired, 3,
        "65% is in [0, 30) past 60: +1: {activities:#?}"
    );
    // 3 instances bring 1300 to 43%: no more until the load rises.
    assert_eq!(minutes[58].desired, 3, "{activities:#?}");
    assert!(minutes[119].desired > 3);
    assert!(
        minutes[119].cpu < 60.0,
        "the step caught up: {}",
        minutes[119].cpu
    );
}

#[test]
fn a_simple_policy_waits_for_its_cooldown_between_changes() {
    let config = group(
        "min = 1\nmax = 20\ndesired = 1\npolicies = [{ type = \"simple\", alarm = { metric = \"average_cpu\", comparison = \">=\", threshold = 80 }, adjustment_type = \"change_in_capacity\", adjustment = 1, cooldown = \"10m\" }]",
    );
    let (_, activities) = run(
        &config,
        Load::Step {
            from: 0.0,
            to: 5000.0,
            at: MIN,
        },
        60,
    );
    assert!(activities.len() >= 3, "{activities:#?}");
    for pair in activities.windows(2) {
        let gap = pair[1].at.as_second() - pair[0].at.as_second();
        // The launch (60 s) settles, then 10 minutes of cooldown.
        assert!(gap >= 660, "{gap} s between {pair:#?}");
    }
}

#[test]
fn scheduled_actions_set_the_bounds_at_their_local_time() {
    // 2026-01-05 is a Monday; 08:00 in Berlin is 07:00 UTC in winter.
    let config = group(
        "min = 1\nmax = 10\nscheduled_actions = [{ name = \"day\", recurrence = \"0 8 * * 1-5\", time_zone = \"Europe/Berlin\", min = 4 }, { name = \"night\", recurrence = \"0 18 * * 1-5\", time_zone = \"Europe/Berlin\", min = 1, desired = 1 }]",
    );
    let (minutes, activities) = run(
        &config,
        Load::Step {
            from: 100.0,
            to: 100.0,
            at: MIN,
        },
        24 * 60,
    );
    assert_eq!(minutes[7 * 60 - 2].desired, 1);
    assert_eq!(minutes[7 * 60].desired, 4);
    assert_eq!(minutes[7 * 60].min, 4);
    assert_eq!(minutes[17 * 60 + 1].desired, 1);
    let causes: Vec<&str> = activities.iter().map(|a| a.cause.as_str()).collect();
    assert_eq!(causes, ["scheduled action day", "scheduled action night"]);
}

#[test]
fn predictive_scaling_is_in_place_before_a_daily_peak() {
    // A daily curve, lowest at midnight and highest at noon: 500 to 9500 requests a
    // minute, 30000 an hour per instance (500 a minute).
    let config = group(
        "min = 1\nmax = 40\npolicies = [{ type = \"predictive\", target = 30000, mode = \"forecast_and_scale\" }]",
    );
    let day = Duration::from_secs(86_400);
    let load = Load::Sine {
        low: 500.0,
        high: 9500.0,
        period: day,
    };
    let (minutes, activities) = run(&config, load, 3 * 24 * 60);
    assert!(activities
        .iter()
        .all(|a| a.cause == "policies[0] predictive"));
    // Nothing on the first day (no forecast before 24 hours of history).
    assert!(minutes[..24 * 60 - 1].iter().all(|m| m.desired == 1));
    // On the third day the capacity for the noon peak (19 instances) is there before it.
    let noon = 2 * 24 * 60 + 12 * 60;
    assert!(minutes[noon - 2].desired >= 18, "{:?}", &minutes[noon - 2]);
    assert!(minutes[noon - 2].forecast.is_some());
}

#[test]
fn loads_have_their_shapes() {
    let h = Duration::from_secs(3600);
    assert_eq!(
        Load::Step {
            from: 1.0,
            to: 2.0,
            at: h
        }
        .at(h),
        2.0
    );
    assert_eq!(
        Load::Ramp {
            from: 0.0,
            to: 10.0,
            over: h
        }
        .at(h / 2),
        5.0
    );
    let sine = Load::Sine {
        low: 0.0,
        high: 10.0,
        period: h * 24,
    };
    assert!(sine.at(Duration::ZERO) < 1e-9);
    assert!((sine.at(h * 12) - 10.0).abs() < 1e-9);
    assert_eq!(
        Load::Spike {
            base: 1.0,
            peak: 9.0,
            at: h,
            length: h
        }
        .at(h * 2),
        1.0
    );
    assert_eq!(Load::Trace(vec![3.0, 4.0]).at(h), 4.0, "the last holds");
    assert_eq!(Load::Trace(vec![]).at(h), 0.0);
}
