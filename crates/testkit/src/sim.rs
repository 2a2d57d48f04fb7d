//! Seeded simulations of pure state machines (CONVENTIONS.md 7.4, rule 13): many random
//! histories in virtual time, invariants checked at every step, any failure replayable.
//!
//! [`simulate`] runs one history per seed, `0..histories`, each driven by a
//! `fastrand::Rng` seeded with it, so every run of the suite checks the same histories and a
//! failure is never a fluke of the machine. A history reports where it is with
//! [`Trace::step`] and what it did with [`Trace::note`], and checks its invariants with
//! plain `assert!`s. When one fails, the panic is reported with the simulation's name, the
//! seed, the step and the last notes, and how to replay that history alone:
//! `SIM_SEED=<seed> cargo test -p <crate> <test>`. `SIM_HISTORIES=<n>` runs more (or fewer)
//! histories than the test asks for.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// How many notes a failure report shows (the most recent ones).
const NOTES_KEPT: usize = 24;

/// Where a history is, and what it did lately: printed when an invariant fails.
#[derive(Debug, Default)]
pub struct Trace {
    step: Cell<usize>,
    notes: RefCell<VecDeque<String>>,
}

impl Trace {
    /// Marks the start of step `step` (what a failure report names).
    pub fn step(&self, step: usize) {
        self.step.set(step);
    }

    /// Records what the history just did, for the failure report.
    pub fn note(&self, what: impl Into<String>) {
        let mut notes = self.notes.borrow_mut();
        if notes.len() == NOTES_KEPT {
            notes.pop_front();
        }
        notes.push_back(format!("step {}: {}", self.step.get(), what.into()));
    }
}

/// Runs `history` once per seed (`0..histories`, or only `SIM_SEED`), each with a fresh
/// [`Trace`] and an RNG seeded with the seed. A panic in a history is reported with the
/// simulation's `name`, its seed and step, and the history's last notes, then re-raised.
pub fn simulate(name: &str, histories: u64, history: impl Fn(&mut fastrand::Rng, &Trace)) {
    let seeds: Vec<u64> = match env_u64("SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("SIM_HISTORIES").unwrap_or(histories)).collect(),
    };
    for seed in seeds {
        let trace = Trace::default();
        let mut rng = fastrand::Rng::with_seed(seed);
        let outcome = catch_unwind(AssertUnwindSafe(|| history(&mut rng, &trace)));
        if let Err(panic) = outcome {
            let notes: Vec<String> = trace.notes.borrow().iter().cloned().collect();
            eprintln!(
                "\nsimulation {name} failed: seed {seed}, step {step}\n\
                 replay it alone with SIM_SEED={seed}\nlast steps:\n  {notes}\n",
                step = trace.step.get(),
                notes = notes.join("\n  "),
            );
            resume_unwind(panic);
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={value:?} is not a number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_replays_the_same_history() {
        let record = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..8).map(|_| rng.u32(..)).collect::<Vec<_>>()
        };
        assert_eq!(record(7), record(7));
        assert_ne!(record(7), record(8));
    }

    #[test]
    fn a_failing_history_is_reported_and_the_panic_goes_on() {
        let caught = catch_unwind(|| {
            simulate("demo", 10, |rng, trace| {
                for step in 0..5 {
                    trace.step(step);
                    trace.note(format!("drew {}", rng.u8(..)));
                    assert!(step < 3, "invariant broken");
                }
            })
        });
        assert!(caught.is_err(), "the invariant's panic reaches the test");
    }
}
