//! Seeded simulation of anomaly mitigation: a thousand random histories of one
//! `weighted_random` group, evaluation after evaluation, with targets whose error rates change,
//! whose traffic is sometimes too thin to judge, and which leave and join the group (a new
//! target's state may be allocated where a removed one's was). At every evaluation, what
//! `docs/config.md` (`anomaly_mitigation`) promises:
//!
//! - a weight stays between 1 % and 100 % of the configured one, and moves only by halving
//!   (anomalous) or doubling (normal again) per evaluation;
//! - a target is judged only on a window of at least [`MIN_REQUESTS`] of its own requests;
//!   a new target's window starts when the detector first sees it;
//! - it is anomalous when its error rate is at least twice the median of the targets judged
//!   and [`MIN_EXCESS`] above it, which needs three of them; without peers only a clearly
//!   normal target recovers;
//! - a target that stops failing is back at its full weight after at most seven windows;
//! - the pick's weight of a target is its configured weight scaled by what mitigation left.
//!
//! Replay a failing history with `SIM_SEED=<seed> cargo test -p ballast-balance anomaly`.

use std::sync::atomic::Ordering;
use std::time::Instant;

use ballast_testkit::sim::{simulate, Trace};

use super::{AnomalyDetector, AnomalyEvent, FLOOR, MIN_EXCESS, MIN_REQUESTS};
use crate::candidates::Candidates;
use crate::target_state::FULL_WEIGHT;
use crate::{
    Algorithm, BalanceOptions, Balancer, HealthReason, HealthState, PickInput, TargetSpec,
    TargetState,
};

const HISTORIES: u64 = 1000;
const EVALUATIONS: usize = 100;
/// Doublings from the floor (1 %) back to the full weight.
const RECOVERY_WINDOWS: u32 = 7;

/// One target as the simulation knows it, apart from the detector.
struct Slot {
    state: Box<TargetState>,
    /// Configured weight.
    weight: u32,
    /// Chance in 1000 that a request fails (its behaviour of the moment).
    error_rate: u32,
    /// Counters where its current window began; `None` until the detector has seen it.
    window: Option<(u64, u64)>,
    /// The weight share mitigation should leave it, in thousandths.
    expected: u32,
    /// Judged windows in a row without a single failure.
    clean_windows: u32,
}

#[test]
fn anomaly_mitigation_keeps_its_promises_in_random_histories() {
    let t0 = Instant::now();
    simulate("anomaly mitigation", HISTORIES, |rng, trace| {
        let mut group: Vec<Slot> = (0..rng.usize(1..=7)).map(|_| Slot::new(rng, t0)).collect();
        let mut detector = AnomalyDetector::new();
        for step in 0..EVALUATIONS {
            trace.step(step);
            change_membership(rng, trace, &mut group, t0);
            for (i, slot) in group.iter_mut().enumerate() {
                if rng.u32(..10) == 0 {
                    slot.error_rate = random_rate(rng);
                    trace.note(format!("target {i}: fails {}‰", slot.error_rate));
                }
                slot.serve(rng);
            }
            let view: Vec<&TargetState> = group.iter().map(|s| &*s.state).collect();
            let events = detector.evaluate(&view);
            trace.note(format!("evaluated: {events:?}"));
            check(&mut group, &events);
            check_pick_weights(&group, t0);
        }
    });
}

/// Now and then a target leaves the group, and another joins: its state freshly allocated
/// right after the old one was freed, as a reload that replaces a target does.
fn change_membership(rng: &mut fastrand::Rng, trace: &Trace, group: &mut Vec<Slot>, t0: Instant) {
    match rng.u32(..20) {
        0 if !group.is_empty() => {
            let i = rng.usize(..group.len());
            drop(group.remove(i));
            group.insert(i, Slot::new(rng, t0));
            trace.note(format!("target {i} replaced"));
        }
        1 if group.len() > 1 => {
            let i = rng.usize(..group.len());
            drop(group.remove(i));
            trace.note(format!("target {i} removed"));
        }
        2 if group.len() < 8 => {
            group.push(Slot::new(rng, t0));
            trace.note(format!("target {} added", group.len() - 1));
        }
        _ => {}
    }
}

/// Compares the detector's weights and events with what the documentation says.
fn check(group: &mut [Slot], events: &[AnomalyEvent]) {
    let rates: Vec<Option<f64>> = group.iter_mut().map(Slot::close_window).collect();
    let mut judged: Vec<f64> = rates.iter().flatten().copied().collect();
    judged.sort_by(f64::total_cmp);
    let median = (judged.len() >= 3).then(|| judged[judged.len() / 2]);
    for (i, (slot, rate)) in group.iter_mut().zip(&rates).enumerate() {
        let before = slot.expected;
        let mut anomalous = false;
        if let Some(rate) = *rate {
            anomalous = median.is_some_and(|m| rate >= 2.0 * m && rate >= m + MIN_EXCESS);
            let normal = match median {
                Some(_) => !anomalous,
                None => rate < MIN_EXCESS,
            };
            if anomalous {
                slot.expected = (before / 2).max(FLOOR);
            } else if normal {
                slot.expected = (before * 2).min(FULL_WEIGHT);
            }
            slot.clean_windows = if rate == 0.0 {
                slot.clean_windows + 1
            } else {
                0
            };
        }
        let weight = slot.state.mitigated_weight();
        assert!(
            (FLOOR..=FULL_WEIGHT).contains(&weight),
            "target {i}: weight {weight}‰"
        );
        assert_eq!(
            weight, slot.expected,
            "target {i}: was {before}‰, rate {rate:?} against median {median:?}"
        );
        if slot.clean_windows >= RECOVERY_WINDOWS {
            assert_eq!(weight, FULL_WEIGHT, "target {i} stopped failing long ago");
        }
        let mitigated = events.contains(&AnomalyEvent::Mitigated {
            index: i,
            weight_permille: weight,
        });
        assert_eq!(
            mitigated,
            anomalous && weight < before,
            "target {i}: {events:?}"
        );
        let recovered = events.contains(&AnomalyEvent::Recovered { index: i });
        assert_eq!(recovered, before < FULL_WEIGHT && weight == FULL_WEIGHT);
    }
    assert!(events.iter().all(|e| match e {
        AnomalyEvent::Mitigated { index, .. } | AnomalyEvent::Recovered { index } =>
            *index < group.len(),
    }));
}

/// What a pick of `weighted_random` gives each target: its configured weight scaled by its
/// mitigated share, never nothing and never more than configured.
fn check_pick_weights(group: &[Slot], t0: Instant) {
    let specs: Vec<TargetSpec> = group
        .iter()
        .enumerate()
        .map(|(i, s)| TargetSpec {
            weight: s.weight,
            local: true,
            id: i as u64,
        })
        .collect();
    let options = BalanceOptions {
        anomaly_mitigation: true,
        ..BalanceOptions::default()
    };
    let balancer = Balancer::build(Algorithm::WeightedRandom, &specs, options, None);
    let input = PickInput {
        now: t0,
        fail_open: true,
        exclude: None,
        random: 0,
        key: None,
    };
    fn state(slot: &Slot) -> &TargetState {
        &slot.state
    }
    let Some(candidates) = Candidates::find(&balancer, group, &state, &input) else {
        panic!("a group of healthy targets has no candidate");
    };
    for (i, slot) in group.iter().enumerate() {
        let pick_weight = candidates.weight(&balancer, i, &slot.state, &input);
        let full = u64::from(slot.weight) * u64::from(FULL_WEIGHT);
        assert_eq!(
            pick_weight,
            u64::from(slot.weight) * u64::from(slot.expected),
            "target {i}"
        );
        assert!(
            (1..=full).contains(&pick_weight),
            "target {i}: {pick_weight}"
        );
    }
}

// === impl Slot ===

impl Slot {
    fn new(rng: &mut fastrand::Rng, t0: Instant) -> Self {
        Self {
            state: Box::new(TargetState::new_at(
                HealthState::Healthy,
                HealthReason::None,
                t0,
            )),
            weight: rng.u32(1..=1000),
            error_rate: random_rate(rng),
            window: None,
            expected: FULL_WEIGHT,
            clean_windows: 0,
        }
    }

    /// One evaluation interval of traffic: none, too little to judge, or plenty.
    fn serve(&mut self, rng: &mut fastrand::Rng) {
        let requests = match rng.u32(..6) {
            0 => 0,
            1 => rng.u64(1..MIN_REQUESTS),
            _ => rng.u64(MIN_REQUESTS..=150),
        };
        let failures = (0..requests)
            .filter(|_| rng.u32(..1000) < self.error_rate)
            .count() as u64;
        self.state.requests.fetch_add(requests, Ordering::Relaxed);
        self.state.failures.fetch_add(failures, Ordering::Relaxed);
    }

    /// The error rate of its window if it has enough requests (starting a new one), as the
    /// documentation defines it.
    fn close_window(&mut self) -> Option<f64> {
        let now = (self.state.requests(), self.state.failures());
        let Some(start) = self.window else {
            self.window = Some(now);
            return None;
        };
        let requests = now.0 - start.0;
        if requests < MIN_REQUESTS {
            return None;
        }
        self.window = Some(now);
        Some((now.1 - start.1) as f64 / requests as f64)
    }
}

fn random_rate(rng: &mut fastrand::Rng) -> u32 {
    *rng.choice(&[0, 0, 0, 10, 50, 200, 400, 600, 1000])
        .unwrap_or(&0)
}
