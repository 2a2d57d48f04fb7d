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
