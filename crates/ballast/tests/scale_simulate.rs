//! `ballast scale simulate` through the binary: the example configurations of
//! docs/autoscaling.md pass `ballast check` and simulate, the CSV has a row a minute with
//! the capacity the policies chose, the chart is an SVG, and bad input is refused with the
//! reason.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/autoscaling")
}

fn simulate(config: &Path, load: &str, duration: &str, out: &Path) -> std::process::Output {
    Command::new(bin())
        .args(["scale", "simulate", "-c"])
        .arg(config)
        .args([
            "--group",
            "app",
            "--load",
            load,
            "--duration",
            duration,
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn every_example_configuration_is_valid() {
    let mut checked = 0;
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        let out = Command::new(bin())
            .arg("check")
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert_eq!(checked, 5, "one per policy kind");
}

#[test]
fn a_spike_scales_out_and_back_in_and_is_written_as_csv_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let result = simulate(
        &examples().join("target_tracking.toml"),
        "spike:1000:5000:30m:1h",
        "3h",
        &out,
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let printed = String::from_utf8_lossy(&result.stdout);
    assert!(printed.contains("policies[0] target_tracking"), "{printed}");
    assert!(printed.contains("2 activities"), "{printed}");
    let csv = std::fs::read_to_string(out.with_extension("csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 180, "a row a minute");
    let desired = |minute: usize| rows[minute - 1][2].parse::<u32>().unwrap();
    assert_eq!(desired(29), 2);
    assert_eq!(desired(60), 10);
    assert_eq!(desired(180), 2);
    let svg = std::fs::read_to_string(out.with_extension("svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("polyline"),
        "{}",
        &svg[..200.min(svg.len())]
    );
}

#[test]
fn a_recorded_trace_can_drive_it() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("load.csv");
    let mut text = String::from("minute,load\n");
    for m in 0..60 {
        text += &format!("{m},{}\n", if m < 20 { 500 } else { 4000 });
    }
    std::fs::write(&trace, text).unwrap();
    let out = dir.path().join("trace");
    let result = simulate(
        &examples().join("target_tracking.toml"),
        trace.to_str().unwrap(),
        "1h",
        &out,
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let csv = std::fs::read_to_string(out.with_extension("csv")).unwrap();
    let last = csv.lines().last().unwrap();
    assert_eq!(
        last.split(',').nth(2),
        Some("8"),
        "4000 a minute at 500 each: {last}"
    );
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let config = examples().join("step.toml");
    let bad_load = simulate(&config, "wave:1:2", "1h", &out);
    assert!(!bad_load.status.success());
    assert!(String::from_utf8_lossy(&bad_load.stderr).contains("--load \"wave:1:2\""));
    let bad_number = simulate(&config, "step:x:2:1h", "1h", &out);
    assert!(String::from_utf8_lossy(&bad_number.stderr).contains("field 2"));
    let unknown = Command::new(bin())
        .args(["scale", "simulate", "-c"])
        .arg(&config)
        .args(["--group", "nope", "--load", "step:1:2:1h"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no scaling group \"nope\" (known: app)")
    );
    let invalid = dir.path().join("invalid.toml");
    std::fs::write(&invalid, "[scaling_groups.app]\ntarget_group = \"none\"\nmin = 1\nmax = 2\nprovider = { command = { launch = \"l\", terminate = \"t\" } }\n").unwrap();
    let refused = simulate(&invalid, "step:1:2:1h", "1h", &out);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("scaling_groups.app.target_group"));
}
