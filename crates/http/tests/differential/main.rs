//! Differential test of Ballast's HTTP/1 request-head parser against hyper's HTTP/1 server,
//! which it replaced. Where Ballast accepts a head, hyper must accept it too with the same
//! method, path and body framing (and read the same body bytes); otherwise the two would
//! disagree on where a request ends, the request-smuggling class of bugs. Ballast refusing
//! what hyper accepts is allowed (it is stricter) and only counted.
//!
//! Inputs come from a grammar that mixes the dangerous parts on purpose (framing fields and
//! their look-alikes, odd separators and line endings, obs-fold, `Host` present, absent or
//! twice, every request-target form), plus a table of known desync vectors. hyper runs over
//! an in-memory duplex on a paused clock: the bytes go in, the client side closes, and a
//! connection that stalls ends at a virtual-time bound instead of hanging.
//!
//! `PROPTEST_CASES` (default 20,000) and `PROPTEST_RNG_SEED` (default fixed) widen or vary
//! the run; `DIFF_REPORT=1` prints how often each outcome occurred.

mod compare;
mod grammar;
mod hyper_server;
mod vectors;

use std::cell::RefCell;
use std::collections::BTreeMap;

use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use tokio::runtime::Runtime;

use compare::{compare, Verdict};
use grammar::case;
use vectors::VECTORS;

/// Cases run when `PROPTEST_CASES` is not set: about a second in a debug build.
const DEFAULT_CASES: u32 = 20_000;
/// Seed used when `PROPTEST_RNG_SEED` is not set, so that a run can be replayed.
const DEFAULT_SEED: u64 = 0x0ba1_1a57;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}

/// Counts verdicts, and prints them when `DIFF_REPORT` is set.
#[derive(Default)]
struct Tally(BTreeMap<Verdict, usize>);

impl Tally {
    fn add(&mut self, verdict: Verdict) {
        *self.0.entry(verdict).or_default() += 1;
    }

    fn report(&self, title: &str) {
        if std::env::var_os("DIFF_REPORT").is_none() {
            return;
        }
        let total: usize = self.0.values().sum();
        eprintln!("{title}: {total} inputs");
        for (verdict, n) in &self.0 {
            eprintln!("{n:>8}  {verdict:?}");
        }
    }
}

#[test]
fn ballast_frames_no_generated_head_more_permissively_than_hyper() {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(DEFAULT_SEED);
    }
    // Minimal failing inputs are reported in full below; the known vectors are the
    // regression list.
    config.failure_persistence = None;
    let rt = runtime();
    let tally = RefCell::new(Tally::default());
    let result = TestRunner::new(config).run(&case(), |case| {
        let verdict = compare(&rt, &case.bytes()).map_err(TestCaseError::fail)?;
        tally.borrow_mut().add(verdict);
        Ok(())
    });
    tally.borrow().report("generated");
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, case)) => panic!("{why}\nminimal input: {case:?}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn ballast_frames_no_known_desync_vector_more_permissively_than_hyper() {
    let rt = runtime();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for (name, bytes) in VECTORS {
        match compare(&rt, bytes) {
            Ok(verdict) => {
                if std::env::var_os("DIFF_REPORT").is_some() {
                    eprintln!("{name:>32}: {verdict:?}");
                }
                tally.add(verdict);
            }
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    tally.report("known vectors");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
