use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn set_desired(n: u32) -> Sizes {
    Sizes {
        desired: Some(n),
        ..Sizes::default()
    }
}

fn action(recurrence: &str, zone: &str) -> ScheduledAction {
    ScheduledAction::new(
        "a",
        Some(recurrence),
        Some(zone),
        (None, None),
        set_desired(5),
    )
    .unwrap()
}

#[test]
fn a_recurrence_runs_at_local_time_in_its_zone() {
    // 08:30 on weekdays in New York: 13:30 UTC in winter, 12:30 UTC in summer.
    let a = action("30 8 * * 1-5", "America/New_York");
    assert_eq!(
        a.next_after(at("2026-01-09T14:00:00Z")),
        Some(at("2026-01-12T13:30:00Z")),
        "Friday afternoon: the next is Monday"
    );
    assert_eq!(
        a.next_after(at("2026-07-01T00:00:00Z")),
        Some(at("2026-07-01T12:30:00Z"))
    );
    // UTC by default.
    let utc =
        ScheduledAction::new("u", Some("0 6 * * *"), None, (None, None), set_desired(1)).unwrap();
    assert_eq!(
        utc.next_after(at("2026-07-01T06:00:00Z")),
        Some(at("2026-07-02T06:00:00Z")),
        "strictly after"
    );
}

#[test]
fn daylight_saving_skips_nothing_and_repeats_nothing() {
    // Europe/Berlin springs forward on 2026-03-29 at 02:00 to 03:00: 02:30 does not exist,
    // and the action runs right after the jump (03:00 CEST = 01:00 UTC).
    let a = action("30 2 * * *", "Europe/Berlin");
    assert_eq!(
        a.next_after(at("2026-03-28T12:00:00Z")),
        Some(at("2026-03-29T01:00:00Z"))
    );
    // It falls back on 2026-10-25 at 03:00 to 02:00: 02:30 happens twice, and runs once.
    let first = a.next_after(at("2026-10-24T12:00:00Z")).unwrap();
    assert_eq!(first, at("2026-10-25T00:30:00Z"), "02:30 CEST");
    assert_eq!(
        a.next_after(first),
        Some(at("2026-10-26T01:30:00Z")),
        "not 02:30 CET again"
    );
}

#[test]
fn start_and_end_bound_the_runs() {
    let once = ScheduledAction::new(
        "once",
        None,
        None,
        (Some(at("2026-12-24T18:00:00Z")), None),
        set_desired(10),
    )
    .unwrap();
    assert_eq!(
        once.next_after(at("2026-12-01T00:00:00Z")),
        Some(at("2026-12-24T18:00:00Z"))
    );
    assert_eq!(once.next_after(at("2026-12-24T18:00:00Z")), None);
    let daily = ScheduledAction::new(
        "daily",
        Some("0 9 * * *"),
        Some("UTC"),
        (
            Some(at("2026-12-10T00:00:00Z")),
            Some(at("2026-12-12T12:00:00Z")),
        ),
        set_desired(3),
    )
    .unwrap();
    assert_eq!(
        daily.next_after(at("2026-12-01T00:00:00Z")),
        Some(at("2026-12-10T09:00:00Z")),
        "not before its start"
    );
    assert_eq!(
        daily.next_after(at("2026-12-11T09:00:00Z")),
        Some(at("2026-12-12T09:00:00Z"))
    );
    assert_eq!(
        daily.next_after(at("2026-12-12T09:00:00Z")),
        None,
        "past its end"
    );
}

#[test]
fn bad_actions_are_refused_with_the_reason() {
    let none = (None, None);
    let bad = |r: Option<&str>, z: Option<&str>, t, s| ScheduledAction::new("x", r, z, t, s).err();
    assert!(matches!(
        bad(Some("0 9 * *"), None, none, set_desired(1)),
        Some(ScheduleError::Recurrence { .. })
    ));
    assert!(matches!(
        bad(Some("0 0 9 * * *"), None, none, set_desired(1)),
        Some(ScheduleError::Recurrence { .. }),
    ));
    assert_eq!(
        bad(
            Some("0 9 * * *"),
            Some("Mars/Olympus"),
            none,
            set_desired(1)
        ),
        Some(ScheduleError::TimeZone("Mars/Olympus".to_owned()))
    );
    assert_eq!(
        bad(None, None, none, set_desired(1)),
        Some(ScheduleError::Never)
    );
    assert_eq!(
        bad(Some("0 9 * * *"), None, none, Sizes::default()),
        Some(ScheduleError::Empty)
    );
    let inverted = Sizes {
        min: Some(5),
        max: Some(2),
        desired: None,
    };
    assert_eq!(
        bad(Some("0 9 * * *"), None, none, inverted),
        Some(ScheduleError::MinAboveMax { min: 5, max: 2 })
    );
    let backwards = (
        Some(at("2026-12-02T00:00:00Z")),
        Some(at("2026-12-01T00:00:00Z")),
    );
    assert_eq!(
        bad(Some("0 9 * * *"), None, backwards, set_desired(1)),
        Some(ScheduleError::EndBeforeStart)
    );
}

#[test]
fn an_action_keeps_min_desired_max_in_order() {
    let group = Bounds { min: 2, max: 10 };
    let set = |min, max, desired| Sizes { min, max, desired };
    let run = |sizes| {
        ScheduledAction::new("s", Some("0 9 * * *"), None, (None, None), sizes)
            .unwrap()
            .apply(group, 4)
    };
    assert_eq!(
        run(set(Some(6), None, None)),
        (Bounds { min: 6, max: 10 }, 6)
    );
    assert_eq!(
        run(set(None, Some(3), None)),
        (Bounds { min: 2, max: 3 }, 3)
    );
    assert_eq!(run(set(None, None, Some(8))), (group, 8));
    assert_eq!(run(set(None, None, Some(80))), (group, 10));
    assert_eq!(
        run(set(Some(12), None, None)),
        (Bounds { min: 12, max: 12 }, 12)
    );
    assert_eq!(
        run(set(None, Some(1), None)),
        (Bounds { min: 1, max: 1 }, 1)
    );
}
