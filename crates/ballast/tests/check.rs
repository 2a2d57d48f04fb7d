//! `ballast check`: exit 0 on a valid file, 2 with every error and its key path on an invalid
//! one. Every example config shipped in the repository must pass.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn check(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ballast.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(bin())
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn valid_file_exits_zero() {
    let (code, stdout, _) = check(
        r#"
[listeners.web]
bind = "127.0.0.1:8080"
default_action = { forward = "web" }
[target_groups.web]
targets = ["127.0.0.1:9001"]
"#,
    );
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("valid (1 listeners, 1 target groups)"),
        "{stdout}"
    );
}

#[test]
fn invalid_file_exits_two_naming_every_key() {
    let (code, _, stderr) = check(
        r#"
[listeners.web]
bind = "127.0.0.1:8080"
default_action = { forward = "apii" }
idle_timeout = "forever"
[target_groups.api]
targets = []
[target_groups.web]
targets = ["127.0.0.1:9001"]
"#,
    );
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains(
            r#"listeners.web.default_action.forward: unknown target group "apii" (known: api, web)"#
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("listeners.web.idle_timeout: invalid value \"forever\""),
        "{stderr}"
    );
}

#[test]
fn unknown_key_exits_two() {
    let (code, _, stderr) = check("[listeners.web]\nbind = \"127.0.0.1:1\"\nbnid = 1\n");
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("listeners.web.bnid: unknown key \"bnid\" (known: bind, protocol,"),
        "{stderr}"
    );
}

#[test]
fn missing_file_exits_two() {
    let out = Command::new(bin())
        .args(["check", "-c", "/nonexistent/ballast.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/ballast.toml"));
}

#[test]
fn every_shipped_example_is_valid() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut checked = 0;
    for dir in ["examples", "docs"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let out = Command::new(bin())
                    .args(["check", "-c"])
                    .arg(&path)
                    .output()
                    .unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{}: {}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 1, "expected at least examples/ballast.toml");
}
