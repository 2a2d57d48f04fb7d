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

/// The hot-path contract (CONVENTIONS.md 7.4 rule 6): no lock types in data-plane crates.
#[test]
fn data_plane_crates_take_no_locks() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut offenders = Vec::new();
    for krate in ["http", "balance", "l4", "dns"] {
        let src = root.join("crates").join(krate).join("src");
        let Ok(files) = walk(&src) else { continue };
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains("Mutex") || code.contains("RwLock") {
                    offenders.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "locks on the data plane:\n{}",
        offenders.join("\n")
    );
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
