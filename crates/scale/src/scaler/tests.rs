use super::*;

#[test]
fn a_group_with_a_bad_schedule_time_is_refused_by_the_config_first() {
    // The scaler trusts what the configuration checked; a bare group has no policy and
    // changes nothing, however the load goes.
    let text = "[target_groups.app]\n[scaling_groups.app]\ntarget_group = \"app\"\nmin = 1\nmax = 3\nprovider = { command = { launch = \"l\", terminate = \"t\" } }\n";
    let config = ballast_config::parse(text).unwrap();
    let start: Timestamp = "2026-01-05T00:00:00Z".parse().unwrap();
    let mut scaler = Scaler::new(&config.scaling_groups[0], start).unwrap();
    let sample = Sample {
        requests: 1e6,
        serving: 1,
        ..Sample::default()
    };
    for i in 1..100 {
        let now = start + jiff::SignedDuration::from_secs(10 * i);
        assert!(scaler.tick(now, &sample, 1, 0).is_empty());
    }
    assert_eq!(scaler.bounds(), Bounds { min: 1, max: 3 });
    assert!(scaler.forecast().is_none());
}

#[test]
fn a_stored_day_of_history_gives_a_forecast_at_the_first_sample() {
    let text = "[target_groups.app]\n[scaling_groups.app]\ntarget_group = \"app\"\nmin = 1\nmax = 30\npolicies = [{ type = \"predictive\", target = 1000, mode = \"forecast_and_scale\" }]\nprovider = { command = { launch = \"l\", terminate = \"t\" } }\n";
    let config = ballast_config::parse(text).unwrap();
    let start: Timestamp = "2026-01-05T00:00:00Z".parse().unwrap();
    // Yesterday: 1000 requests an hour per hour of the day (hour 5: 5000).
    let stored = crate::history::Stored {
        version: 1,
        group: "app".into(),
        ended_at: start.as_second(),
        hours: (0..24).map(|h| f64::from(h) * 1000.0).collect(),
    };
    let history = HourlyHistory::restore(stored, "app", start).unwrap();
    let mut scaler = Scaler::new(&config.scaling_groups[0], start).unwrap();
    scaler.set_history(history);
    let sample = Sample {
        requests: 0.0,
        serving: 1,
        ..Sample::default()
    };
    let now = start + jiff::SignedDuration::from_secs(10);
    scaler.tick(now, &sample, 1, 0);
    let (hour0, _, capacities) = scaler.forecast().expect("a forecast from the stored day");
    assert_eq!(hour0, start);
    assert_eq!(&capacities[..6], &[0, 1, 2, 3, 4, 5]);
    assert_eq!(scaler.predictive_mode(), Some(Mode::ForecastAndScale));
    // The history goes on from the stored one.
    assert_eq!(scaler.history().hours().len(), 24);
}

#[test]
fn a_reload_keeps_the_state_of_unchanged_policies() {
    let text = |max: u32| {
        format!("[target_groups.app]\n[scaling_groups.app]\ntarget_group = \"app\"\nmin = 1\nmax = {max}\npolicies = [{{ type = \"target_tracking\", metric = \"request_count_per_target\", target = 100 }}]\nprovider = {{ command = {{ launch = \"l\", terminate = \"t\" }} }}\n")
    };
    let group = |max| ballast_config::parse(&text(max)).unwrap().scaling_groups[0].clone();
    let start: Timestamp = "2026-01-05T00:00:00Z".parse().unwrap();
    let at = |i: i64| start + jiff::SignedDuration::from_secs(10 * i);
    // 600 requests a minute on one instance: 6 times the target.
    let busy = Sample {
        requests: 100.0,
        serving: 1,
        ..Sample::default()
    };
    let mut scaler = Scaler::new(&group(10), start).unwrap();
    // Two of the three minutes above the target a scale-out waits for.
    for i in 1..=12 {
        assert!(scaler.tick(at(i), &busy, 1, 0).is_empty());
    }
    // A reload changes only the maximum: the policy goes on where it was.
    let mut reloaded = Scaler::new(&group(12), at(12)).unwrap();
    reloaded.carry_over(scaler);
    let mut fresh = Scaler::new(&group(12), at(12)).unwrap();
    let mut acted = Vec::new();
    for i in 13..=18 {
        acted.extend(reloaded.tick(at(i), &busy, 1, 0));
        assert!(
            fresh.tick(at(i), &busy, 1, 0).is_empty(),
            "a fresh policy waits"
        );
    }
    assert_eq!(acted.len(), 1, "{acted:?}");
    assert_eq!(acted[0].desired, 6);
    assert_eq!(reloaded.bounds(), Bounds { min: 1, max: 12 });
}
