//! docs/config.md documents every key the parser accepts and every default: a key added
//! without documentation fails here.

use std::path::PathBuf;

fn read(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_raw_key_is_documented() {
    // Every file of the raw model: a new one cannot slip past.
    let mut raw = read("src/raw.rs");
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/raw"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        raw += &std::fs::read_to_string(&file).unwrap();
    }
    let docs = read("../../docs/config.md");
    let keys: Vec<&str> = raw
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .filter_map(|l| l.split_once(':').map(|(name, _)| name))
        .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    assert!(keys.len() >= 15, "found only {keys:?}");
    let missing: Vec<_> = keys
        .iter()
        .filter(|k| !docs.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from docs/config.md: {missing:?}"
    );
}

#[test]
fn every_default_is_documented() {
    let defaults = read("src/defaults.rs");
    let docs = read("../../docs/config.md");
    let names: Vec<&str> = defaults
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split_once(':').map(|(name, _)| name))
        .collect();
    assert!(names.len() >= 9, "found only {names:?}");
    let missing: Vec<_> = names.iter().filter(|n| !docs.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "defaults missing from docs/config.md: {missing:?}"
    );
}
