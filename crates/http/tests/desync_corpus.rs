//! Ballast's desync classifier against the public corpus of AWS's `http_desync_guardian`
//! (the classifier behind ALB's desync mitigation modes), read from the crate's own
//! source: every case written out as bytes on the wire must get the class and the reason
//! the corpus expects, and the same as the crate's own analyser gives the bytes.

use ballast_http::fuzzing::desync_verdict;
use ballast_testkit::desync::{desync_corpus, guardian_verdict_raw};

#[test]
fn every_corpus_case_gets_the_class_and_reason_the_corpus_expects() {
    let corpus = desync_corpus();
    assert!(corpus.len() > 150, "the corpus has {} cases", corpus.len());
    let mut wrong = Vec::new();
    let mut checked = 0;
    for case in &corpus {
        let raw = case.raw();
        if !case.round_trips() {
            // Parts with CR or LF are another request once written out: compared with
            // what the crate's analyser makes of the same bytes instead.
            continue;
        }
        checked += 1;
        let ours = desync_verdict(&raw);
        let expected = (case.class.as_str(), case.reason.as_str());
        match ours {
            Ok(Some(found)) if found == expected => {}
            other => wrong.push(format!(
                "{} / {}: expected {expected:?}, found {other:?}\n    {:?}",
                case.file,
                case.name,
                String::from_utf8_lossy(&raw)
            )),
        }
    }
    assert!(checked > 130, "only {checked} cases round-trip");
    assert!(
        wrong.is_empty(),
        "{} of {checked} cases differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn cases_that_do_not_round_trip_are_classed_as_the_crate_reads_their_bytes() {
    let mut wrong = Vec::new();
    for case in desync_corpus().iter().filter(|c| !c.round_trips()) {
        let raw = case.raw();
        let (class, reason) = guardian_verdict_raw(&raw);
        let ours = desync_verdict(&raw);
        if ours != Ok(Some((class.as_str(), reason.as_str()))) {
            wrong.push(format!(
                "{} / {}: crate {class}/{reason}, Ballast {ours:?}\n    {:?}",
                case.file,
                case.name,
                String::from_utf8_lossy(&raw)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
