//! The crate graph follows DESIGN.md: a crate may only import the crates its row allows.
//!
//! Review rules about arrows get forgotten; this test does not.

use std::collections::BTreeMap;
use std::process::Command;

/// Which workspace crates each crate may depend on (normal and build dependencies).
/// Crates that do not exist yet are listed so their arrows are fixed before they land.
const ALLOWED: &[(&str, &[&str])] = &[
    ("ballast-config", &[]),
    ("ballast-balance", &["ballast-config"]),
    ("ballast-tls", &["ballast-config"]),
    // Control plane: the ACME client, feeding certificates to ballast-tls resolvers.
    ("ballast-acme", &["ballast-config", "ballast-tls"]),
    ("ballast-telemetry", &["ballast-config"]),
    (
        "ballast-health",
        &["ballast-config", "ballast-balance", "ballast-telemetry"],
    ),
    (
        "ballast-scale",
        &["ballast-config", "ballast-balance", "ballast-telemetry"],
    ),
    (
        "ballast-l4",
        &[
            "ballast-config",
            "ballast-balance",
            "ballast-tls",
            "ballast-telemetry",
        ],
    ),
    (
        "ballast-http",
        &[
            "ballast-config",
            "ballast-balance",
            "ballast-tls",
            "ballast-telemetry",
            "ballast-l4",
        ],
    ),
    (
        "ballast-dns",
        &["ballast-config", "ballast-balance", "ballast-telemetry"],
    ),
    (
        "ballast-runtime",
        &[
            "ballast-config",
            "ballast-balance",
            "ballast-tls",
            "ballast-acme",
            "ballast-telemetry",
            "ballast-health",
            "ballast-scale",
            "ballast-l4",
            "ballast-http",
            "ballast-dns",
        ],
    ),
    (
        "ballast-admin",
        &["ballast-runtime", "ballast-config", "ballast-telemetry"],
    ),
    ("ballast-testkit", &[]),
];

#[test]
fn workspace_crates_only_import_what_the_design_allows() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();

    let mut violations = Vec::new();
    let mut seen = 0;
    for package in metadata["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        if !name.starts_with("ballast") {
            continue;
        }
        seen += 1;
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            if !dep_name.starts_with("ballast-") {
                continue;
            }
            let dev_only = dep["kind"].as_str() == Some("dev");
            if dep_name == "ballast-testkit" {
                if !dev_only {
                    violations.push(format!(
                        "{name} -> {dep_name}: testkit is a dev-dependency only"
                    ));
                }
                continue;
            }
            if dev_only || name == "ballast" {
                continue;
            }
            match allowed.get(name) {
                None => violations.push(format!(
                    "{name} is not in the allowed-edges table; add its row"
                )),
                Some(ok) if !ok.contains(&dep_name) => {
                    violations.push(format!("{name} -> {dep_name} runs against DESIGN.md"))
                }
                Some(_) => {}
            }
        }
    }
    assert!(
        seen >= 7,
        "expected the workspace crates in cargo metadata, saw {seen}"
    );
    assert!(
        violations.is_empty(),
        "forbidden dependency edges:\n{}",
        violations.join("\n")
    );
}

/// Crates whose code runs per request or per handshake (CONVENTIONS.md 7.4 rule 6): no lock
/// types. `l4` and `dns` join this list when their crates land; every crate named here must
/// exist, so renaming one cannot quietly switch its check off.
const DATA_PLANE_CRATES: &[&str] = &["http", "balance", "tls", "telemetry"];

/// Files of those crates allowed a lock, each with why no request ever takes it. An entry
/// must name a file that exists and still has a lock, so the list cannot go stale.
const LOCKS_ALLOWED: &[(&str, &str)] = &[(
    "telemetry/src/registry.rs",
    "the metrics registry's name -> handle maps: taken when a snapshot is built (handles are \
     resolved then, never per request) and when /metrics or the dashboard render; requests \
     only touch the atomic counters behind the handles",
)];

/// The hot-path contract (CONVENTIONS.md 7.4 rule 6): no lock types in data-plane crates.
#[test]
fn data_plane_crates_take_no_locks() {
    let crates = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut offenders = Vec::new();
    let mut allowed_seen = Vec::new();
    for krate in DATA_PLANE_CRATES {
        let src = crates.join(krate).join("src");
        let files = walk(&src).unwrap_or_else(|e| {
            panic!(
                "data-plane crate {krate:?} has no source folder {}: {e} (renamed? update DATA_PLANE_CRATES)",
                src.display()
            )
        });
        assert!(!files.is_empty(), "no Rust file under {}", src.display());
        for file in files {
            let relative = file
                .strip_prefix(&crates)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&file).unwrap();
            let locks: Vec<String> = text
                .lines()
                .enumerate()
                .filter(|(_, line)| {
                    let code = line.split("//").next().unwrap_or("");
                    code.contains("Mutex") || code.contains("RwLock")
                })
                .map(|(i, line)| format!("crates/{relative}:{}: {}", i + 1, line.trim()))
                .collect();
            if locks.is_empty() {
                continue;
            }
            if LOCKS_ALLOWED.iter().any(|(path, _)| *path == relative) {
                allowed_seen.push(relative);
            } else {
                offenders.extend(locks);
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "locks on the data plane:\n{}",
        offenders.join("\n")
    );
    for (path, _) in LOCKS_ALLOWED {
        assert!(
            allowed_seen.iter().any(|seen| seen == path),
            "LOCKS_ALLOWED names crates/{path}, which has no lock (or does not exist): remove the entry"
        );
    }
}

fn walk(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(out)
}
