//! Anomaly mitigation, case by case (the simulation in `sim.rs` covers random histories).

use super::*;
use crate::{HealthReason, HealthState};

fn serve(target: &TargetState, requests: u32, failures: u32) {
    for i in 0..requests {
        target.requests.fetch_add(1, Ordering::Relaxed);
        target.record_outcome(i >= failures);
    }
}

#[test]
fn an_outlier_is_halved_each_round_and_doubles_back_once_normal() {
    let group: Vec<TargetState> = (0..4)
        .map(|_| TargetState::new(HealthState::Healthy, HealthReason::None))
        .collect();
    let view: Vec<&TargetState> = group.iter().collect();
    let mut detector = AnomalyDetector::new();
    assert!(
        detector.evaluate(&view).is_empty(),
        "first call only records"
    );
    let mut weights = Vec::new();
    for _ in 0..3 {
        serve(&group[0], 100, 50);
        for t in &group[1..] {
            serve(t, 100, 1);
        }
        detector.evaluate(&view);
        weights.push(group[0].mitigated_weight());
    }
    assert_eq!(weights, [500, 250, 125]);
    assert!(group[1..]
        .iter()
        .all(|t| t.mitigated_weight() == FULL_WEIGHT));
    let mut back = Vec::new();
    for _ in 0..3 {
        for t in &group {
            serve(t, 100, 1);
        }
        detector.evaluate(&view);
        back.push(group[0].mitigated_weight());
    }
    assert_eq!(back, [250, 500, 1000]);
}

#[test]
fn a_mitigated_target_with_little_traffic_is_judged_over_a_longer_window() {
    let group: Vec<TargetState> = (0..3)
        .map(|_| TargetState::new(HealthState::Healthy, HealthReason::None))
        .collect();
    let view: Vec<&TargetState> = group.iter().collect();
    let mut detector = AnomalyDetector::new();
    detector.evaluate(&view);
    serve(&group[0], 100, 60);
    serve(&group[1], 100, 0);
    serve(&group[2], 100, 0);
    detector.evaluate(&view);
    assert_eq!(group[0].mitigated_weight(), 500);
    // Now it is fine but gets only 10 requests a window: no verdict until it has 20.
    serve(&group[0], 10, 0);
    serve(&group[1], 100, 0);
    serve(&group[2], 100, 0);
    detector.evaluate(&view);
    assert_eq!(group[0].mitigated_weight(), 500);
    serve(&group[0], 10, 0);
    detector.evaluate(&view);
    assert_eq!(
        group[0].mitigated_weight(),
        1000,
        "recovers without peers' windows"
    );
}

#[test]
fn too_little_traffic_or_too_few_peers_decides_nothing() {
    let group: Vec<TargetState> = (0..3)
        .map(|_| TargetState::new(HealthState::Healthy, HealthReason::None))
        .collect();
    let view: Vec<&TargetState> = group.iter().collect();
    let mut detector = AnomalyDetector::new();
    detector.evaluate(&view);
    serve(&group[0], 10, 10);
    serve(&group[1], 10, 0);
    serve(&group[2], 10, 0);
    assert!(detector.evaluate(&view).is_empty());
    let two = &view[..2];
    let mut detector = AnomalyDetector::new();
    detector.evaluate(two);
    serve(&group[0], 100, 100);
    serve(&group[1], 100, 0);
    assert!(detector.evaluate(two).is_empty());
}

#[test]
fn a_target_replacing_another_in_its_place_starts_its_own_window() {
    let mut group: Vec<TargetState> = (0..3)
        .map(|_| TargetState::new(HealthState::Healthy, HealthReason::None))
        .collect();
    let mut detector = AnomalyDetector::new();
    serve(&group[0], 500, 0);
    detector.evaluate(&group.iter().collect::<Vec<_>>());
    // A reload replaces the first target; the new one's state lands where the old
    // one's was (as a freed allocation is reused).
    group[0] = TargetState::new(HealthState::Healthy, HealthReason::None);
    let view: Vec<&TargetState> = group.iter().collect();
    detector.evaluate(&view);
    serve(&group[0], 100, 60);
    serve(&group[1], 100, 0);
    serve(&group[2], 100, 0);
    detector.evaluate(&view);
    assert_eq!(
        group[0].mitigated_weight(),
        500,
        "judged on its own 100 requests, not against the old target's 500"
    );
}

#[test]
fn a_group_failing_alike_is_not_anomalous() {
    let group: Vec<TargetState> = (0..3)
        .map(|_| TargetState::new(HealthState::Healthy, HealthReason::None))
        .collect();
    let view: Vec<&TargetState> = group.iter().collect();
    let mut detector = AnomalyDetector::new();
    detector.evaluate(&view);
    for t in &group {
        serve(t, 100, 40);
    }
    assert!(detector.evaluate(&view).is_empty());
}
