//! The docs work as written: every ```toml block in `docs/` and the README is a file
//! `ballast check` accepts (or is marked a fragment), and the operations guide's admin API
//! calls answer what it prints.

use std::path::{Path, PathBuf};
use std::process::Command;

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

/// The marker that opens a ```toml block deliberately partial (a key or a table shown on
/// its own), as its first line, optionally followed by `: what it is part of`. Such a block
/// is not checked, only counted.
const FRAGMENT: &str = "# fragment";

/// How many fragments each page has. Every other block must be a file `ballast check`
/// accepts, so a partial block without the marker fails, and a new fragment is a choice
/// made here too.
const FRAGMENTS: &[(&str, usize)] = &[("docs/config.md", 5)];

/// Every page whose blocks are checked: the README and all of `docs/`.
fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(docs())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages.push(root.join("README.md"));
    pages
}

/// The ```toml blocks of a page.
fn toml_blocks(text: &str) -> Vec<&str> {
    text.split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .collect()
}

/// `block` with every `/etc/ballast/FILE` it names (certificates, keys, CA bundles) made a
/// file in `dir`: `ballast check` only needs them readable.
fn with_files_in(block: &str, dir: &Path) -> String {
    let mut out = String::new();
    let mut rest = block;
    while let Some(start) = rest.find("\"/etc/ballast/") {
        let name_start = start + "\"/etc/ballast/".len();
        let Some(len) = rest[name_start..].find('"') else {
            break;
        };
        let name = &rest[name_start..name_start + len];
        let file = dir.join(name);
        std::fs::write(&file, "placeholder: ballast check only opens it\n").unwrap();
        out.push_str(&rest[..start]);
        out.push_str(&format!("{:?}", file.display().to_string()));
        rest = &rest[name_start + len + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_toml_block_in_the_docs_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for page in pages() {
        let name = page
            .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            .unwrap_or(&page)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&page).unwrap();
        let mut fragments = 0;
        for (i, block) in toml_blocks(&text).into_iter().enumerate() {
            if block.starts_with(FRAGMENT) {
                fragments += 1;
                continue;
            }
            let file = dir.path().join(format!("block-{checked}.toml"));
            std::fs::write(&file, with_files_in(block, dir.path())).unwrap();
            let output = Command::new(env!("CARGO_BIN_EXE_ballast"))
                .args(["check", "-c"])
                .arg(&file)
                .output()
                .unwrap();
            if !output.status.success() {
                failures.push(format!(
                    "{name}, block {i} (mark a deliberately partial block with a first line `{FRAGMENT}`):\n{block}\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            checked += 1;
        }
        let expected = FRAGMENTS
            .iter()
            .find(|(p, _)| *p == name)
            .map_or(0, |(_, n)| *n);
        if fragments != expected {
            failures.push(format!(
                "{name} has {fragments} blocks marked `{FRAGMENT}`, FRAGMENTS says {expected}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(checked >= 10, "only {checked} blocks found");
}

/// The operations guide's admin API examples, run as written: its configuration block
/// started as a real process (listeners on port 0), each `$ curl …` line run by curl, and
/// the answer compared with the one printed under it.
#[test]
fn operations_admin_examples_work_as_written() {
    let page = std::fs::read_to_string(docs().join("operations.md")).unwrap();
    let config = page
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .find(|block| block.contains("[admin]"))
        .expect("operations.md shows the configuration its examples run against");
    let config: String = config
        .lines()
        .map(|line| {
            if line.starts_with("bind = ") {
                "bind = \"127.0.0.1:0\"\n".to_owned()
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let lb =
        ballast_testkit::BallastProcess::start(Path::new(env!("CARGO_BIN_EXE_ballast")), &config);
    let admin = lb.admin_addr().to_string();

    let examples = console_examples(&page);
    assert!(
        examples.len() >= 3,
        "expected the documented curl calls, found {examples:?}"
    );
    for (command, expected) in examples {
        let words = shell_words(&command);
        assert_eq!(words.first().map(String::as_str), Some("curl"), "{command}");
        let args: Vec<String> = words[1..]
            .iter()
            .map(|w| w.replace("localhost:9901", &admin))
            .collect();
        let output = Command::new("curl")
            .args(&args)
            .output()
            .expect("curl runs (the CI installs it)");
        let answer = String::from_utf8_lossy(&output.stdout);
        let actual: serde_json::Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("{command}\nanswered {answer:?}: {e}"));
        let documented: serde_json::Value = serde_json::from_str(&expected)
            .unwrap_or_else(|e| panic!("the answer documented for {command} is not JSON: {e}"));
        assert_eq!(actual, documented, "{command}");
    }
}

/// Every `$ curl` command of the ```console blocks (continuation lines joined) with the
/// output printed under it.
fn console_examples(page: &str) -> Vec<(String, String)> {
    let mut examples = Vec::new();
    for block in page.split("```console\n").skip(1) {
        let Some((block, _)) = block.split_once("```") else {
            continue;
        };
        let mut lines = block.lines().peekable();
        while let Some(line) = lines.next() {
            let Some(first) = line.strip_prefix("$ ") else {
                continue;
            };
            let mut command = first.to_owned();
            while command.ends_with('\\') {
                command.pop();
                command.push(' ');
                command.push_str(lines.next().unwrap_or("").trim());
            }
            let mut output = String::new();
            while let Some(next) = lines.next_if(|l| !l.starts_with("$ ")) {
                output.push_str(next);
                output.push('\n');
            }
            if command.trim_start().starts_with("curl") {
                examples.push((command, output));
            }
        }
    }
    examples
}

/// A command line split as a POSIX shell would: on blanks, with '…' quoting.
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Every reason code the fault model can log is in both tables operators read: the one in
/// config.md ("What Ballast answers on its own") and the fault model in request-lifecycle.md.
#[test]
fn every_reason_code_is_documented() {
    let root = docs().join("..");
    let fault = std::fs::read_to_string(root.join("crates/http/src/fault.rs")).unwrap();
    let mut reasons: Vec<&str> = fault
        .split('"')
        .filter(|s| {
            let mut parts = s.split('.');
            matches!(
                (parts.next(), parts.next(), parts.next()),
                (Some("Client" | "Target" | "Group" | "Ballast"), Some(name), None)
                    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric())
            )
        })
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    assert!(reasons.len() >= 20, "found only {reasons:?} in fault.rs");
    for page in ["docs/config.md", "docs/request-lifecycle.md"] {
        let text = std::fs::read_to_string(root.join(page)).unwrap();
        let missing: Vec<_> = reasons
            .iter()
            .filter(|r| !text.contains(&format!("`{r}`")))
            .collect();
        assert!(missing.is_empty(), "{page} does not list {missing:?}");
    }
}
