use super::*;
use crate::suspend::Suspended;

fn launched(id: &str, port: u16, zone: Option<&str>) -> Launched {
    Launched {
        id: id.to_owned(),
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        zone: zone.map(str::to_owned),
    }
}

fn grow(fleet: &mut Fleet, now: Instant, desired: u32) -> Vec<String> {
    let steps = fleet.plan(
        now,
        desired,
        Duration::from_secs(60),
        &[TerminationPolicy::Default],
        &Suspended::default(),
    );
    let mut names = Vec::new();
    for step in steps {
        if let Step::Launch { name, zone } = step {
            let n = names.len() as u16 + fleet.instances.len() as u16;
            fleet.launched(
                &name,
                &launched(&format!("id-{name}"), 9000 + n, zone.as_deref()),
                now,
            );
            names.push(name);
        }
    }
    fleet.set_health(|_| true);
    names
}

#[test]
fn launches_up_to_desired_spread_over_zones_and_scales_in_from_the_fullest_zone() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new("app", &["a".to_owned(), "b".to_owned()]);
    let names = grow(&mut fleet, t0, 3);
    assert_eq!(names, ["app-1", "app-2", "app-3"]);
    let zones: Vec<_> = fleet
        .instances
        .iter()
        .map(|i| i.zone.clone().unwrap())
        .collect();
    assert_eq!(zones, ["a", "b", "a"]);
    // Scale in to 2: zone a has two, so its oldest goes.
    let steps = fleet.plan(
        t0 + Duration::from_secs(1),
        2,
        Duration::from_secs(60),
        &[TerminationPolicy::Default],
        &Suspended::default(),
    );
    assert_eq!(
        steps,
        vec![Step::Retire {
            id: "id-app-1".to_owned(),
            address: fleet.instances[0].address.unwrap(),
            why: "scale-in"
        }]
    );
    assert_eq!(fleet.active().count(), 2);
    // Once terminated it is forgotten; a deregistered one needs no deregistration again.
    assert_eq!(fleet.gone("id-app-1"), None);
    assert_eq!(fleet.instances.len(), 2);
    // Nothing to do at the desired capacity.
    assert!(fleet
        .plan(t0, 2, Duration::from_secs(60), &[], &Suspended::default())
        .is_empty());
}

#[test]
fn newest_instance_and_protection_choose_the_victim() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new("app", &[]);
    for (k, n) in [(0, 1), (1, 2), (2, 3)] {
        grow(&mut fleet, t0 + Duration::from_secs(k), n);
    }
    fleet.instances[2].protected = true;
    let steps = fleet.plan(
        t0,
        2,
        Duration::from_secs(60),
        &[TerminationPolicy::NewestInstance],
        &Suspended::default(),
    );
    assert!(
        matches!(&steps[..], [Step::Retire { id, .. }] if id == "id-app-2"),
        "{steps:?}"
    );
}

#[test]
fn unhealthy_after_the_grace_period_or_exited_instances_are_replaced() {
    let t0 = Instant::now();
    let grace = Duration::from_secs(60);
    let mut fleet = Fleet::new("app", &[]);
    grow(&mut fleet, t0, 2);
    let bad = fleet.instances[0].address.unwrap();
    fleet.set_health(|a| a != bad);
    // Within the grace period nothing happens.
    assert!(fleet
        .plan(
            t0 + Duration::from_secs(30),
            2,
            grace,
            &[],
            &Suspended::default()
        )
        .is_empty());
    assert_eq!(
        fleet.warming(t0 + Duration::from_secs(30), Duration::ZERO),
        1,
        "the unhealthy one is not measured"
    );
    let steps = fleet.plan(t0 + grace, 2, grace, &[], &Suspended::default());
    assert!(
        matches!(&steps[0], Step::Retire { id, why: "unhealthy after its grace period", .. } if id == "id-app-1"),
        "{steps:?}"
    );
    assert!(
        matches!(&steps[1], Step::Launch { name, .. } if name == "app-3"),
        "{steps:?}"
    );
    // An instance that exited is gone at once: deregistered, and replaced at the next plan.
    let address = fleet.gone("id-app-2");
    assert!(address.is_some());
    let steps = fleet.plan(t0 + grace, 2, grace, &[], &Suspended::default());
    assert!(
        matches!(&steps[..], [Step::Launch { name, .. }] if name == "app-4"),
        "{steps:?}"
    );
    fleet.launch_failed("app-4");
    assert_eq!(fleet.active().count(), 1);
}

#[test]
fn suspended_processes_hold_their_part_of_the_work() {
    let t0 = Instant::now();
    let grace = Duration::from_secs(1);
    let mut fleet = Fleet::new("app", &[]);
    grow(&mut fleet, t0, 2);
    let no_launch = Suspended {
        launch: true,
        ..Suspended::default()
    };
    assert!(fleet.plan(t0, 4, grace, &[], &no_launch).is_empty());
    let no_terminate = Suspended {
        terminate: true,
        ..Suspended::default()
    };
    assert!(fleet.plan(t0, 0, grace, &[], &no_terminate).is_empty());
    fleet.set_health(|_| false);
    let no_replace = Suspended {
        replace_unhealthy: true,
        ..Suspended::default()
    };
    assert!(fleet
        .plan(t0 + grace, 2, grace, &[], &no_replace)
        .is_empty());
    // Protection: a scale-in passes over a protected instance.
    fleet.set_health(|_| true);
    assert!(fleet.protect("app-1", true));
    assert!(!fleet.protect("app-9", true));
    let steps = fleet.plan(t0, 1, grace, &[], &Suspended::default());
    assert!(
        matches!(&steps[..], [Step::Retire { id, .. }] if id == "id-app-2"),
        "{steps:?}"
    );
}

#[test]
fn instances_found_running_are_adopted_not_launched_again() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new("app", &[]);
    let found = launched("i-1", 9100, None);
    fleet.adopt(&found, t0);
    fleet.adopt(&found, t0);
    assert_eq!(fleet.instances.len(), 1, "once");
    fleet.set_health(|_| true);
    let steps = fleet.plan(t0, 2, Duration::from_secs(60), &[], &Suspended::default());
    assert!(
        matches!(&steps[..], [Step::Launch { name, .. }] if name == "app-2"),
        "{steps:?}"
    );
}

/// Plans at `desired` with `suspended` until nothing is left to do (at most 20 rounds):
/// launches come up healthy at once, retired instances are terminated at once. Returns the
/// steps taken.
fn settle(fleet: &mut Fleet, now: Instant, desired: u32, suspended: &Suspended) -> Vec<Step> {
    let mut all = Vec::new();
    for round in 0..20u16 {
        let steps = fleet.plan(
            now,
            desired,
            Duration::from_secs(60),
            &[TerminationPolicy::Default],
            suspended,
        );
        if steps.is_empty() {
            return all;
        }
        for step in &steps {
            match step {
                Step::Launch { name, zone } => {
                    let port = 9100 + round * 10 + all.len() as u16;
                    fleet.launched(
                        name,
                        &launched(&format!("id-{name}"), port, zone.as_deref()),
                        now,
                    );
                }
                Step::Retire { id, .. } => {
                    fleet.gone(id);
                }
            }
        }
        fleet.set_health(|_| true);
        all.extend(steps);
    }
    panic!("the fleet never settled: {all:?}");
}

fn zone_counts(fleet: &Fleet) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for i in fleet.active() {
        *counts
            .entry(i.zone.clone().unwrap_or_default())
            .or_default() += 1;
    }
    counts.into_iter().collect()
}

#[test]
fn a_new_zone_is_filled_by_launching_first_and_retiring_from_the_fullest_after() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new("app", &["a".to_owned(), "b".to_owned()]);
    grow(&mut fleet, t0, 4);
    fleet.set_zones(&["a".to_owned(), "b".to_owned(), "c".to_owned()]);
    // The launch into zone c comes first; nothing is retired while it is not in service.
    let steps = fleet.plan(
        t0,
        4,
        Duration::from_secs(60),
        &[TerminationPolicy::Default],
        &Suspended::default(),
    );
    assert_eq!(
        steps,
        vec![Step::Launch {
            name: "app-5".to_owned(),
            zone: Some("c".to_owned())
        }]
    );
    fleet.launched("app-5", &launched("id-app-5", 9200, Some("c")), t0);
    fleet.set_health(|a| a.port() != 9200);
    let waiting = fleet.plan(
        t0,
        4,
        Duration::from_secs(60),
        &[TerminationPolicy::Default],
        &Suspended::default(),
    );
    assert!(waiting.is_empty(), "{waiting:?}");
    // In service: the oldest of a full zone goes, and 2-1-1 is as even as it gets.
    fleet.set_health(|_| true);
    let steps = settle(&mut fleet, t0, 4, &Suspended::default());
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert!(
        matches!(&steps[0], Step::Retire { id, why: "zone rebalance", .. } if id == "id-app-1")
    );
    assert_eq!(
        zone_counts(&fleet),
        [
            ("a".to_owned(), 1),
            ("b".to_owned(), 2),
            ("c".to_owned(), 1)
        ]
    );
}

#[test]
fn instances_of_a_zone_no_longer_listed_are_moved_one_at_a_time() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new("app", &["a".to_owned(), "b".to_owned()]);
    grow(&mut fleet, t0, 4);
    fleet.set_zones(&["b".to_owned()]);
    let steps = settle(&mut fleet, t0, 4, &Suspended::default());
    // Two moves: a launch into b, then a retirement from a, twice.
    let launches = steps
        .iter()
        .filter(|s| matches!(s, Step::Launch { .. }))
        .count();
    assert_eq!((launches, steps.len()), (2, 4), "{steps:?}");
    assert_eq!(zone_counts(&fleet), [("b".to_owned(), 4)]);
}

#[test]
fn rebalancing_can_be_suspended_and_leaves_protected_instances_alone() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new("app", &["a".to_owned(), "b".to_owned()]);
    grow(&mut fleet, t0, 4);
    fleet.set_zones(&["a".to_owned(), "b".to_owned(), "c".to_owned()]);
    let suspended = Suspended {
        zone_rebalance: true,
        ..Suspended::default()
    };
    assert!(settle(&mut fleet, t0, 4, &suspended).is_empty());
    // Every instance protected: a move could only retire from another zone, so none starts.
    for n in 1..=4 {
        assert!(fleet.protect(&format!("app-{n}"), true));
    }
    assert!(settle(&mut fleet, t0, 4, &Suspended::default()).is_empty());
    // An even spread stays as it is.
    let mut even = Fleet::new("app", &["a".to_owned(), "b".to_owned(), "c".to_owned()]);
    grow(&mut even, t0, 4);
    assert!(settle(&mut even, t0, 4, &Suspended::default()).is_empty());
}

#[test]
fn outdated_instances_are_replaced_one_at_a_time_new_first() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new("app", &[]);
    grow(&mut fleet, t0, 3);
    assert!(fleet.protect("app-2", true));
    fleet.mark_outdated();
    // Scale-ins take outdated instances before new ones.
    let steps = settle(&mut fleet, t0, 3, &Suspended::default());
    let kinds: Vec<String> = steps
        .iter()
        .map(|s| match s {
            Step::Launch { name, .. } => format!("launch {name}"),
            Step::Retire { id, why, .. } => format!("retire {id} ({why})"),
        })
        .collect();
    // The protected one stays; the two others are replaced, each launch before its retirement.
    assert_eq!(
        kinds,
        [
            "launch app-4",
            "retire id-app-1 (replaced: provider changed)",
            "launch app-5",
            "retire id-app-3 (replaced: provider changed)",
        ]
    );
    let outdated: Vec<&str> = fleet
        .active()
        .filter(|i| i.outdated)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(outdated, ["app-2"]);
    // A scale-in takes an outdated one first, protection aside.
    assert!(fleet.protect("app-2", false));
    let steps = fleet.plan(
        t0,
        2,
        Duration::from_secs(60),
        &[TerminationPolicy::NewestInstance],
        &Suspended::default(),
    );
    assert!(matches!(&steps[..], [Step::Retire { id, why: "scale-in", .. }] if id == "id-app-2"));
}
