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
