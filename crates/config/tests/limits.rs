//! The limits on a configuration's size (`defaults.rs`, "Limits" in docs/config.md): each is
//! refused with the key it concerns, and no error repeats more than a short prefix of what
//! the user wrote.

use std::fmt::Write as _;

use ballast_config::defaults::*;
use ballast_config::{parse, ConfigErrors};

fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => messages(&e),
    }
}

fn messages(errors: &ConfigErrors) -> Vec<String> {
    errors.errors().iter().map(ToString::to_string).collect()
}

/// `count` listeners, each with a mistake of its own (an unknown group).
fn listeners(count: usize) -> String {
    let mut text = String::new();
    for i in 0..count {
        let _ = writeln!(
            text,
            "listeners.l{i} = {{ bind = \"127.0.0.1:0\", default_action = {{ forward = \"none\" }} }}"
        );
    }
    text
}

#[test]
fn too_many_listeners_is_one_error_and_none_is_checked() {
    let m = errors(&listeners(MAX_LISTENERS + 1));
    assert_eq!(
        m,
        [format!(
            "listeners: invalid value {} listeners: expected at most {MAX_LISTENERS} listeners",
            MAX_LISTENERS + 1
        )]
    );
    // At the limit, every listener is checked (and each one's mistake reported).
    assert!(errors(&listeners(MAX_LISTENERS)).len() > 1);
}

#[test]
fn too_many_target_groups_is_refused() {
    let mut text = String::new();
    for i in 0..=MAX_TARGET_GROUPS {
        let _ = writeln!(text, "target_groups.g{i} = {{ protocol = \"gopher\" }}");
    }
    assert_eq!(
        errors(&text),
        [format!(
            "target_groups: invalid value {} target groups: expected at most {MAX_TARGET_GROUPS} target groups",
            MAX_TARGET_GROUPS + 1
        )]
    );
}

#[test]
fn too_many_targets_in_a_group_is_refused() {
    let targets: Vec<String> = (0..=MAX_TARGETS_PER_GROUP)
        .map(|i| format!("\"10.0.{}.{}:80\"", i / 250, i % 250))
        .collect();
    let text = format!("[target_groups.app]\ntargets = [{}]\n", targets.join(", "));
    assert_eq!(
        errors(&text),
        [format!(
            "target_groups.app.targets: invalid value {} targets: expected at most {MAX_TARGETS_PER_GROUP} targets",
            MAX_TARGETS_PER_GROUP + 1
        )]
    );
}

#[test]
fn too_many_certificates_or_acme_domains_are_refused() {
    let pairs: Vec<String> = (0..=MAX_CERTIFICATES)
        .map(|i| format!("{{ cert = \"c{i}.pem\", key = \"k{i}.pem\" }}"))
        .collect();
    let domains: Vec<String> = (0..=MAX_ACME_DOMAINS)
        .map(|i| format!("\"d{i}.example.com\""))
        .collect();
    let text = format!(
        r#"
[listeners.web]
bind = "127.0.0.1:0"
protocol = "https"
default_action = {{ fixed_response = {{ status = 200 }} }}
tls = {{ certificates = [{}], acme = {{ directory = "https://ca.example/dir", domains = [{}] }} }}
"#,
        pairs.join(", "),
        domains.join(", ")
    );
    let m = errors(&text);
    assert!(m.contains(&format!(
        "listeners.web.tls.certificates: invalid value {} certificates: expected at most {MAX_CERTIFICATES} certificates",
        MAX_CERTIFICATES + 1
    )), "{m:#?}");
    assert!(m.contains(&format!(
        "listeners.web.tls.acme.domains: invalid value {} domains: expected at most {MAX_ACME_DOMAINS} domains",
        MAX_ACME_DOMAINS + 1
    )), "{m:#?}");
    // Not one "cannot read cN.pem" each: the list was refused as a whole.
    assert!(m.len() <= 3, "{m:#?}");
}

#[test]
fn a_long_name_is_refused_and_never_repeated_whole() {
    let name = "n".repeat(MAX_NAME_BYTES + 1);
    let m = errors(&format!("[target_groups.{name}]\n"));
    assert_eq!(
        m,
        [format!(
            "target_groups.{name}: invalid value name \"{name}\": expected 1 to {MAX_NAME_BYTES} characters among a-z, A-Z, 0-9, '-' and '_'"
        )]
    );
    let huge = "h".repeat(1 << 20);
    let text = format!(
        "[listeners.{huge}]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"{huge}\" }}\n"
    );
    let m = errors(&text);
    assert_eq!(m.len(), 2, "{m:#?}");
    for message in &m {
        assert!(message.len() < 2 * 1024, "{message}");
        assert!(
            message.contains(&format!("({} bytes)", 1 << 20)),
            "{message}"
        );
    }
    assert!(m[1].contains("unknown target group \"hhh"), "{}", m[1]);
}

#[test]
fn a_document_over_the_size_limit_is_refused_before_parsing() {
    // Not even valid TOML: the size is checked first.
    let text = "[".repeat(MAX_CONFIG_BYTES + 1);
    assert_eq!(
        errors(&text),
        [format!(
            "invalid value a document of {} bytes: expected at most {MAX_CONFIG_BYTES} bytes (16 MiB)",
            MAX_CONFIG_BYTES + 1
        )]
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.toml");
    std::fs::write(&file, &text).unwrap();
    let refused = ballast_config::read_file(&file).unwrap_err();
    assert!(
        messages(&refused)[0].starts_with("invalid value a document of"),
        "{refused}"
    );
    std::fs::write(&file, "[server]\n").unwrap();
    assert_eq!(ballast_config::read_file(&file).unwrap(), "[server]\n");
}

#[test]
fn only_the_first_errors_are_reported_and_the_rest_counted() {
    let m = errors(&listeners(MAX_LISTENERS));
    assert_eq!(m.len(), MAX_REPORTED_ERRORS + 1);
    assert_eq!(
        m[MAX_REPORTED_ERRORS],
        format!(
            "{} more errors not shown (only the first {MAX_REPORTED_ERRORS} are reported)",
            MAX_LISTENERS - MAX_REPORTED_ERRORS
        )
    );
}

#[test]
fn an_unknown_reference_lists_a_few_known_names() {
    let mut text = String::from(
        "[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = { forward = \"nope\" }\n",
    );
    for i in 0..500 {
        let _ = writeln!(text, "[target_groups.g{i:03}]");
    }
    let m = errors(&text);
    let listed: Vec<String> = (0..MAX_KNOWN_NAMES_LISTED)
        .map(|i| format!("g{i:03}"))
        .collect();
    assert_eq!(
        m,
        [format!(
            "listeners.web.default_action.forward: unknown target group \"nope\" (known: {}, … (500 in all))",
            listed.join(", ")
        )]
    );
}

#[test]
fn a_long_forward_list_is_refused_without_checking_each_entry() {
    let groups: Vec<String> = (0..10_000)
        .map(|i| format!("{{ name = \"g{i}\" }}"))
        .collect();
    let text = format!(
        "[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = {{ groups = [{}] }} }}\n",
        groups.join(", ")
    );
    assert_eq!(
        errors(&text),
        [format!(
            "listeners.web.default_action.forward.groups: invalid value 10000 groups: expected 1 to {MAX_FORWARD_GROUPS} target groups"
        )]
    );
}

#[test]
fn values_quoted_again_in_a_reason_are_cut_too() {
    let digits = "1".repeat(1 << 20);
    let text = format!(
        "[server]\ndrain_timeout = \"{digits}\"\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ fixed_response = {{ status = 200 }} }}\ntrusted_proxies = [\"{digits}\"]\n"
    );
    let m = errors(&text);
    assert_eq!(m.len(), 2, "{m:#?}");
    for message in &m {
        assert!(message.len() < 1024, "{message}");
    }
    assert!(
        m[0].starts_with("server.drain_timeout: invalid value \"111"),
        "{}",
        m[0]
    );
}

#[test]
fn an_endless_token_file_is_refused_not_read_to_the_end() {
    let m = errors("[admin]\ntoken_file = \"/dev/zero\"\n");
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].starts_with("admin.token_file: invalid value \"/dev/zero\" (longer than 4096 bytes)"),
        "{m:?}"
    );
}

#[test]
fn a_token_file_is_read_and_trimmed() {
    let file = std::env::temp_dir().join(format!("ballast-token-{}", std::process::id()));
    std::fs::write(&file, "0123456789abcdef0123\n").expect("temp file is writable");
    let text = format!("[admin]\ntoken_file = \"{}\"\n", file.display());
    let parsed = parse(&text);
    let _ = std::fs::remove_file(&file);
    let config = parsed.unwrap_or_else(|e| panic!("{:?}", messages(&e)));
    assert!(config.admin.is_some_and(|admin| admin.token.is_some()));
}
