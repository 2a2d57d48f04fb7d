use super::*;

fn config(targets: &str, group_extra: &str) -> Config {
    ballast_config::parse(&format!(
        "[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"g\" }}\n[target_groups.g]\ntargets = [{targets}]\n{group_extra}\n"
    ))
    .unwrap()
}

#[test]
fn routes_listener_to_its_group() {
    let snapshot = build_snapshot(
        &config("\"127.0.0.1:1\", \"127.0.0.1:2\"", ""),
        None,
        2,
        &[],
    );
    let routes = snapshot.listener(&"web".into()).unwrap();
    let RouteAction::Forward(group) = &routes.default_action.action else {
        panic!("a single forward");
    };
    assert_eq!(group.targets.len(), 2);
    assert_eq!(group.targets[0].pool.workers(), 2);
    assert_eq!(
        group.targets[0].state.state(),
        HealthState::Healthy,
        "no health check: healthy at once"
    );
}

#[test]
fn checked_groups_start_their_targets_initial() {
    let snapshot = build_snapshot(
        &config("\"127.0.0.1:1\"", "health_check = { path = \"/health\" }"),
        None,
        1,
        &[],
    );
    let state = &snapshot.target_groups[0].targets[0].state;
    assert_eq!(state.state(), HealthState::Initial);
    assert_eq!(state.reason(), HealthReason::InitialHealthChecking);
}

#[test]
fn target_state_survives_a_rebuild_and_new_targets_start_fresh() {
    let first = build_snapshot(&config("\"127.0.0.1:1\"", ""), None, 1, &[]);
    let kept = Arc::clone(&first.target_groups[0].targets[0].state);
    let second = build_snapshot(
        &config("\"127.0.0.1:1\", \"127.0.0.1:2\"", ""),
        Some(&first),
        1,
        &[],
    );
    let targets = &second.target_groups[0].targets;
    assert!(Arc::ptr_eq(&targets[0].state, &kept));
    assert!(Arc::ptr_eq(
        &targets[0].pool,
        &first.target_groups[0].targets[0].pool
    ));
    assert!(!Arc::ptr_eq(&targets[1].state, &kept));
}

#[test]
fn round_robin_position_and_retry_budget_survive_a_rebuild() {
    let first = build_snapshot(&config("\"127.0.0.1:1\"", ""), None, 1, &[]);
    let second = build_snapshot(
        &config("\"127.0.0.1:1\", \"127.0.0.1:2\"", ""),
        Some(&first),
        1,
        &[],
    );
    let (a, b) = (&first.target_groups[0], &second.target_groups[0]);
    assert!(b.balancer.shares_position_with(&a.balancer));
    assert!(Arc::ptr_eq(&a.retry_budget, &b.retry_budget));
    let third = build_snapshot(
        &config("\"127.0.0.1:1\"", "retry = { budget_percent = 5 }"),
        Some(&second),
        1,
        &[],
    );
    assert!(!Arc::ptr_eq(
        &b.retry_budget,
        &third.target_groups[0].retry_budget
    ));
}

#[test]
fn draining_targets_stay_in_the_snapshot_as_draining() {
    let first = build_snapshot(
        &config("\"127.0.0.1:1\", \"127.0.0.1:2\"", ""),
        None,
        1,
        &[],
    );
    let leaving = ("g".into(), "127.0.0.1:2".parse().unwrap());
    let second = build_snapshot(&config("\"127.0.0.1:1\"", ""), Some(&first), 1, &[leaving]);
    let targets = &second.target_groups[0].targets;
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[1].state.state(), HealthState::Draining);
    assert!(Arc::ptr_eq(
        &targets[1].state,
        &first.target_groups[0].targets[1].state
    ));
}
