//! A change made from an older document is refused rather than undoing what happened since.

use ballast_config::Document;
use ballast_runtime::{ApplyError, Runtime};

#[test]
fn a_change_from_a_stale_document_is_a_conflict() {
    let runtime = Runtime::start(ballast_config::parse("").unwrap()).unwrap();
    runtime.set_document(Document::default());
    let (stale, version) = runtime.versioned_document();
    let fresher = Document::from_toml("[target_groups.a]\ntargets = [\"127.0.0.1:1\"]\n").unwrap();
    let applied = runtime.apply_document("file", fresher.clone()).unwrap();
    assert_eq!(applied.target_groups.added, vec!["a".to_owned()]);
    let refused = runtime.apply_document_if("api", stale, Some(version));
    assert!(
        matches!(refused, Err(ApplyError::Conflict { .. })),
        "{refused:?}"
    );
    assert_eq!(runtime.document(), fresher, "the newer document stays");
    let (current, version) = runtime.versioned_document();
    runtime
        .apply_document_if("api", current, Some(version))
        .unwrap();
    runtime.shutdown();
}

#[test]
fn a_deregistered_file_target_leaves_the_document() {
    let text = "[target_groups.a]\ntargets = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n";
    let runtime = Runtime::start(ballast_config::parse(text).unwrap()).unwrap();
    runtime.set_document(Document::from_toml(text).unwrap());
    let (_, version) = runtime.versioned_document();
    runtime
        .deregister_target("a", "127.0.0.1:1".parse().unwrap())
        .unwrap();
    let (document, after) = runtime.versioned_document();
    let targets: Vec<&str> = document
        .target_group("a")
        .unwrap()
        .targets
        .iter()
        .map(|t| t.address.as_str())
        .collect();
    assert_eq!(targets, ["127.0.0.1:2"]);
    assert_ne!(
        after, version,
        "a change made from the old document must be redone"
    );
    runtime.shutdown();
}
