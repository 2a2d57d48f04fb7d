//! A change made from an older document is refused rather than undoing what happened since.

use ballast_runtime::{ApplyError, Runtime};
use serde_json::json;

#[test]
fn a_change_from_a_stale_document_is_a_conflict() {
    let runtime = Runtime::start(ballast_config::parse("").unwrap()).unwrap();
    runtime.set_document(json!({}));
    let (stale, version) = runtime.versioned_document();
    let fresher = json!({"target_groups": {"a": {"targets": ["127.0.0.1:1"]}}});
    runtime.apply_document("file", fresher.clone()).unwrap();
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
