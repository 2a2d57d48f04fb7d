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
