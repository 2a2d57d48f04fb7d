//! A huge configuration is refused quickly by `ballast check`, with a short report that names
//! what is wrong (docs/config.md, "Limits"): a 52 MB name, a 15 MB name under the size limit,
//! and 100 000 listeners.

use std::path::Path;
use std::time::Duration;

/// Far beyond what these take (well under a few seconds in a debug build); only a hang or a
/// quadratic blow-up reaches it.
const GENEROUS: Duration = Duration::from_secs(120);

/// The most a report of one refused file may hold: a few lines, never the input.
const SHORT_REPORT: usize = 4 * 1024;

/// Runs `ballast check` on `text`; its exit code and its whole output (stdout and stderr).
async fn check(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ballast.toml");
    std::fs::write(&file, text).unwrap();
    let child = tokio::process::Command::new(Path::new(env!("CARGO_BIN_EXE_ballast")))
        .args(["check", "-c"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(GENEROUS, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("ballast check took more than {GENEROUS:?}"))
        .unwrap();
    let mut report = String::from_utf8_lossy(&output.stdout).into_owned();
    report.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.code(), report)
}

#[tokio::test]
async fn a_52_mb_name_is_refused_by_size_without_being_echoed() {
    let name = "a".repeat(52 * 1024 * 1024);
    let text = format!(
        "[listeners.{name}]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\n"
    );
    let (code, report) = check(&text).await;
    assert_eq!(code, Some(2), "{report}");
    assert!(report.len() < SHORT_REPORT, "{} bytes", report.len());
    assert!(
        report.contains(&format!(
            "invalid value a document of {} bytes: expected at most 16777216 bytes (16 MiB)",
            text.len()
        )),
        "{report}"
    );
}

#[tokio::test]
async fn a_long_name_under_the_size_limit_is_refused_naming_its_key_briefly() {
    let name = "b".repeat(15 * 1024 * 1024);
    let text = format!(
        "[listeners.{name}]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\n[target_groups.app]\n"
    );
    let (code, report) = check(&text).await;
    assert_eq!(code, Some(2), "{report}");
    assert!(report.len() < SHORT_REPORT, "{} bytes", report.len());
    assert!(
        report.contains(&format!(
            "listeners.\"{}…({} bytes)\": invalid value name",
            "b".repeat(80),
            name.len()
        )),
        "{report}"
    );
}

#[tokio::test]
async fn a_hundred_thousand_listeners_are_refused_as_one_error() {
    let mut text = String::with_capacity(8 << 20);
    for i in 0..100_000 {
        text.push_str(&format!(
            "listeners.l{i} = {{ bind = \"127.0.0.1:{}\", default_action = {{ forward = \"app\" }} }}\n",
            1 + i % 60_000
        ));
    }
    text.push_str("[target_groups.app]\n");
    let (code, report) = check(&text).await;
    assert_eq!(code, Some(2), "{report}");
    assert!(report.len() < SHORT_REPORT, "{} bytes", report.len());
    assert!(
        report
            .contains("listeners: invalid value 100000 listeners: expected at most 1000 listeners"),
        "{report}"
    );
}
