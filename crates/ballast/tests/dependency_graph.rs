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
    (
        "ballast-cluster",
        &["ballast-runtime", "ballast-config", "ballast-telemetry"],
    ),
    ("ballast-testkit", &[]),
    // Bench only: relays that do no work of their own, the floor the benches compare with.
    ("ballast-floor", &[]),
];

/// The workspace's `cargo metadata` (without its dependencies' packages).
fn metadata() -> serde_json::Value {
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
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn workspace_crates_only_import_what_the_design_allows() {
    let metadata = metadata();
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

/// docs/architecture.md draws the crate graph as `crate ──▶ a, b` lines: they must be the
/// normal dependencies each `Cargo.toml` declares, no more and no fewer, for every crate.
#[test]
fn architecture_md_shows_the_crate_graph_as_built() {
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/architecture.md"),
    )
    .unwrap();
    let graph = page
        .split("## Crate graph")
        .nth(1)
        .and_then(|rest| rest.split("```text\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("architecture.md has a ```text block under ## Crate graph");
    let mut drawn: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in graph.lines().filter(|l| l.contains('▶')) {
        let (from, to) = line.split_once('▶').unwrap();
        // `L4  runtime ───` → `runtime`; `L6  ballast (bin) ──` → `ballast`.
        let is_layer = |w: &str| w.len() == 2 && w.starts_with('L');
        let name = from
            .split_whitespace()
            .find(|w| !is_layer(w))
            .unwrap_or_default();
        let to = to.split('(').next().unwrap_or("");
        let mut deps: Vec<String> = to
            .split(',')
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
            .collect();
        deps.sort();
        drawn.insert(name.to_owned(), deps);
    }
    let mut built: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in metadata()["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        if !name.starts_with("ballast") {
            continue;
        }
        let mut deps: Vec<String> = package["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .filter_map(|d| d["name"].as_str()?.strip_prefix("ballast-"))
            .map(str::to_owned)
            .collect();
        deps.sort();
        deps.dedup();
        let short = name.strip_prefix("ballast-").unwrap_or(name);
        built.insert(short.to_owned(), deps);
    }
    assert_eq!(
        drawn, built,
        "docs/architecture.md's crate graph (left) differs from the Cargo.toml files (right)"
    );
}

/// Crates whose code runs per request or per handshake (CONVENTIONS.md 7.4 rule 6): no lock
/// types. `dns` joins this list when its crate lands; every crate named here must
/// exist, so renaming one cannot quietly switch its check off.
const DATA_PLANE_CRATES: &[&str] = &["http", "l4", "balance", "tls", "telemetry", "dns"];

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

/// The crates whose modules are checked for import cycles and size. Every crate named here
/// must exist, so renaming one cannot quietly switch its check off.
const MODULE_CHECKED_CRATES: &[&str] = &[
    "acme",
    "admin",
    "balance",
    "cluster",
    "config",
    "dns",
    "health",
    "http",
    "runtime",
    "scale",
    "telemetry",
    "testkit",
    "tls",
];

/// Inside these crates (CONVENTIONS.md 7.4 rule 9, and the outside review of issue 11), no
/// module imports another that imports it back, directly or around a circle, and no file
/// holds more than 400 lines of non-test code. A module's imports are its `crate::…`,
/// `super::…` and `self::…` paths, resolved to the deepest module they name; the crate root
/// (which declares every module) is left out.
#[test]
fn modules_have_no_cycle_and_stay_small() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut problems = Vec::new();
    for krate in MODULE_CHECKED_CRATES {
        let src = root.join("crates").join(krate).join("src");
        let modules = modules_of(&src);
        assert!(
            modules.len() > 3,
            "no modules found under {}",
            src.display()
        );
        for (module, code) in &modules {
            let lines = code.lines().count();
            if lines > 400 {
                problems.push(format!(
                    "{krate}: {module} has {lines} lines of non-test code"
                ));
            }
        }
        let names: Vec<&str> = modules.keys().map(String::as_str).collect();
        let graph: BTreeMap<&str, Vec<String>> = modules
            .iter()
            .map(|(module, code)| (module.as_str(), imports(module, code, &names)))
            .collect();
        if let Some(cycle) = find_cycle(&graph) {
            problems.push(format!("{krate}: import cycle {}", cycle.join(" -> ")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every module of a crate (`api::change`) with its non-test code; `tests.rs` files and
/// everything from `#[cfg(test)]` on are left out. A `mod.rs` file is its directory's module
/// (`h1/mod.rs` is `h1`).
fn modules_of(src: &std::path::Path) -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    for file in walk(src).unwrap() {
        let relative = file.strip_prefix(src).unwrap().with_extension("");
        let path: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if path.last().is_some_and(|p| p == "tests") || path == ["lib"] {
            continue;
        }
        let mut path = path;
        if path.last().is_some_and(|p| p == "mod") {
            path.pop();
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
        modules.insert(path.join("::"), code);
    }
    modules
}

/// The modules `module` imports, by the paths in its code. A parent naming its own children
/// (re-exports in a `mod.rs`) is how Rust declares them, not a dependency, so it is left out.
fn imports(module: &str, code: &str, modules: &[&str]) -> Vec<String> {
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    let mut found = Vec::new();
    for (prefix, base) in [("crate::", ""), ("super::", parent), ("self::", module)] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            let items: Vec<String> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|item| item.trim().to_owned())
                    .collect(),
                None => vec![rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect()],
            };
            for item in items {
                let mut path: Vec<&str> = base.split("::").filter(|s| !s.is_empty()).collect();
                let mut deepest = None;
                for segment in item.split("::").filter(|s| !s.is_empty()) {
                    path.push(segment);
                    let joined = path.join("::");
                    if modules.contains(&joined.as_str()) {
                        deepest = Some(joined);
                    }
                }
                let own_child = |t: &String| t.starts_with(&format!("{module}::"));
                if let Some(target) = deepest.filter(|t| t != module && !own_child(t)) {
                    found.push(target);
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// A cycle of the graph, if there is one, as the modules around it.
fn find_cycle(graph: &BTreeMap<&str, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<&str, Vec<String>>,
        done: &mut Vec<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.iter().any(|n| n == node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.push(node.to_owned());
        None
    }
    let mut done = Vec::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}
