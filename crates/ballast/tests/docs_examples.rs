//! Every complete configuration in the docs' worked examples is valid: a reader who copies
//! one gets a file `ballast check` accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

/// The ```toml blocks of a page that contain a listener (complete files, not fragments).
fn complete_blocks(page: &str) -> Vec<String> {
    let text = std::fs::read_to_string(docs().join(page)).unwrap();
    text.split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block.to_owned()))
        .filter(|block| block.contains("[listeners.") && block.contains("[target_groups."))
        .collect()
}

#[test]
fn routing_examples_are_valid() {
    let blocks = complete_blocks("routing.md");
    assert!(
        blocks.len() >= 4,
        "expected the four worked examples, found {}",
        blocks.len()
    );
    let dir = tempfile::tempdir().unwrap();
    for (i, block) in blocks.iter().enumerate() {
        let file = dir.path().join(format!("example-{i}.toml"));
        std::fs::write(&file, block).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_ballast"))
            .args(["check", "-c"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "routing.md example {i} is invalid:\n{block}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
