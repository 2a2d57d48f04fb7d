use super::*;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

/// Feeds `hours` hours of samples of `per_sample` requests, from `start`.
fn run(history: &mut HourlyHistory, start: i64, hours: usize, per_sample: f64) -> i64 {
    let mut now = start;
    for _ in 0..hours * HOUR_SAMPLES {
        now += SAMPLE.as_secs() as i64;
        history.push(at(now), per_sample);
    }
    now
}

#[test]
fn an_hour_closes_by_the_clock_with_its_requests() {
    let mut h = HourlyHistory::new(at(0));
    let end = run(&mut h, 0, 2, 5.0);
    assert_eq!(h.hours(), &[1800.0, 1800.0]);
    assert_eq!(h.ended_at(), at(end));
}

#[test]
fn the_history_keeps_fourteen_days() {
    let mut h = HourlyHistory::new(at(0));
    run(&mut h, 0, MAX_HISTORY + 3, 1.0);
    assert_eq!(h.hours().len(), MAX_HISTORY);
}

#[test]
fn a_stored_history_round_trips_through_json() {
    let mut h = HourlyHistory::new(at(0));
    let end = run(&mut h, 0, 3, 2.0);
    let text = serde_json::to_string(&h.stored("web")).unwrap();
    let stored: Stored = serde_json::from_str(&text).unwrap();
    let back = HourlyHistory::restore(stored, "web", at(end + 60)).unwrap();
    assert_eq!(back.hours(), h.hours());
    assert_eq!(back.ended_at(), h.ended_at());
}

#[test]
fn hours_missed_while_stopped_repeat_the_day_before() {
    let mut h = HourlyHistory::new(at(0));
    // A day of hours 0, 1, 2 ... 23 requests per hour.
    let mut now = 0;
    for hour in 0..DAY {
        for _ in 0..HOUR_SAMPLES {
            now += 10;
            h.push(at(now), hour as f64 / HOUR_SAMPLES as f64);
        }
    }
    let stored = h.stored("web");
    // Back 3 hours and 20 minutes later: three whole hours were missed.
    let back = HourlyHistory::restore(stored, "web", at(now + 3 * 3600 + 1200)).unwrap();
    let hours = back.hours();
    assert_eq!(hours.len(), DAY + 3);
    for (i, v) in hours[DAY..].iter().enumerate() {
        assert!((v - i as f64).abs() < 1e-9, "hour {i}: {v}");
    }
    assert_eq!(back.ended_at(), at(now + 3 * 3600));
}

#[test]
fn the_first_partial_hour_after_a_restart_counts_as_a_whole_one() {
    let mut h = HourlyHistory::new(at(0));
    let end = run(&mut h, 0, 1, 1.0);
    let mut back = HourlyHistory::restore(h.stored("web"), "web", at(end + 1800)).unwrap();
    // Half an hour of samples at 2 per sample, then the hour closes.
    let mut now = end + 1800;
    let mut closed = false;
    while !closed {
        now += 10;
        closed = back.push(at(now), 2.0);
    }
    assert_eq!(back.hours(), &[360.0, 720.0]);
}

#[test]
fn a_history_too_old_or_from_the_future_is_left_out() {
    let mut h = HourlyHistory::new(at(0));
    let end = run(&mut h, 0, 2, 1.0);
    let late = at(end + (MAX_HISTORY as i64 + 1) * 3600);
    assert!(HourlyHistory::restore(h.stored("web"), "web", late)
        .unwrap()
        .hours()
        .is_empty());
    let early = at(end - 7200);
    let back = HourlyHistory::restore(h.stored("web"), "web", early).unwrap();
    assert!(back.hours().is_empty());
    assert_eq!(back.ended_at(), early);
}

#[test]
fn a_file_of_another_group_version_or_with_bad_values_is_refused() {
    let good = HourlyHistory::new(at(0)).stored("web");
    let other = Stored {
        group: "api".into(),
        ..good.clone()
    };
    assert_eq!(
        HourlyHistory::restore(other, "web", at(10)),
        Err(StoredError::OtherGroup("api".into()))
    );
    let version = Stored {
        version: 2,
        ..good.clone()
    };
    assert_eq!(
        HourlyHistory::restore(version, "web", at(10)),
        Err(StoredError::Version(2))
    );
    let negative = Stored {
        hours: vec![1.0, -3.0],
        ..good
    };
    assert_eq!(
        HourlyHistory::restore(negative, "web", at(10)),
        Err(StoredError::Value(1, -3.0))
    );
}

#[test]
fn a_stalled_task_fills_the_hours_it_missed() {
    let mut h = HourlyHistory::new(at(0));
    let end = run(&mut h, 0, 25, 1.0);
    // The next sample comes 5 hours later.
    assert!(h.push(at(end + 5 * 3600), 1.0));
    assert_eq!(h.hours().len(), 30);
    assert_eq!(h.ended_at(), at(end + 5 * 3600));
}
