//! Each message shape serde and the TOML parser produce, and what the user reads instead.
//! The messages are made by serde itself (`de::Error` constructors), and by parsing real
//! documents, so a change of wording upstream shows here.

use serde::de::{Error as _, Unexpected};

use super::*;
use crate::raw;

/// A serde error message, as serde's own constructors word it.
fn serde(make: impl FnOnce() -> serde_json::Error) -> String {
    make().to_string()
}

/// The first error of a TOML document, without the key path and position.
fn toml_message(text: &str) -> String {
    let errors = raw::parse(text).expect_err(text);
    let error = &errors.errors()[0];
    error.kind.to_string()
}

/// The first error of a JSON document.
fn json_message(json: serde_json::Value) -> String {
    let errors = raw::parse_json(&json).expect_err("invalid");
    errors.errors()[0].to_string()
}

#[test]
fn invalid_types_name_toml_types_not_rust_types() {
    let cases = [
        (
            Unexpected::Str("x"),
            "i64",
            "expected an integer, found the string \"x\"",
        ),
        (
            Unexpected::Signed(5),
            "a string",
            "expected a string, found the integer 5",
        ),
        (
            Unexpected::Unsigned(5),
            "u32",
            "expected an integer, found the integer 5",
        ),
        (
            Unexpected::Float(1.5),
            "i64",
            "expected an integer, found the number 1.5",
        ),
        (
            Unexpected::Bool(true),
            "i64",
            "expected an integer, found true",
        ),
        (
            Unexpected::Map,
            "a string",
            "expected a string, found a table",
        ),
        (
            Unexpected::Seq,
            "struct RawServer",
            "expected a table, found an array",
        ),
        (
            Unexpected::Signed(5),
            "a map",
            "expected a table, found the integer 5",
        ),
        (
            Unexpected::Str("x"),
            "a sequence",
            "expected an array, found the string \"x\"",
        ),
        (
            Unexpected::Str("x"),
            "a boolean",
            "expected true or false, found the string \"x\"",
        ),
        (
            Unexpected::Unit,
            "a string",
            "expected a string, found null",
        ),
        (
            Unexpected::Char('c'),
            "f64",
            "expected a number, found the character 'c'",
        ),
        (
            Unexpected::Str("a, expected b"),
            "u16",
            "expected an integer, found the string \"a, expected b\"",
        ),
        (
            Unexpected::Signed(1),
            "\"IP:PORT\" or a table",
            "expected \"IP:PORT\" or a table, found the integer 1",
        ),
    ];
    for (found, expected, words) in cases {
        let message = serde(|| serde_json::Error::invalid_type(found, &expected));
        assert_eq!(in_user_words(&message), words, "from {message}");
    }
}

#[test]
fn out_of_range_integers_give_the_range() {
    let message = serde(|| serde_json::Error::invalid_value(Unexpected::Signed(-1), &"u16"));
    assert_eq!(
        in_user_words(&message),
        "invalid value -1: expected an integer from 0 to 65535"
    );
    let message = serde(|| serde_json::Error::invalid_value(Unexpected::Str("x"), &"a port"));
    assert_eq!(
        in_user_words(&message),
        "invalid value \"x\": expected a port"
    );
}

#[test]
fn unknown_and_missing_keys_are_keys_not_fields() {
    let message = serde(|| serde_json::Error::unknown_field("bnid", &["bind", "protocol"]));
    assert_eq!(
        in_user_words(&message),
        "unknown key \"bnid\" (known: bind, protocol)"
    );
    let message = serde(|| serde_json::Error::unknown_field("x", &["address"]));
    assert_eq!(
        in_user_words(&message),
        "unknown key \"x\" (known: address)"
    );
    let message = serde(|| serde_json::Error::unknown_field("x", &[]));
    assert_eq!(
        in_user_words(&message),
        "unknown key \"x\" (this table has no keys)"
    );
    let message = serde(|| serde_json::Error::missing_field("bind"));
    assert_eq!(
        in_user_words(&message),
        "missing key \"bind\", which is required"
    );
    let message = serde(|| serde_json::Error::duplicate_field("bind"));
    assert_eq!(in_user_words(&message), "key \"bind\" is given twice");
}

#[test]
fn unknown_variants_list_the_accepted_values() {
    let cases: [(&[&str], &str); 4] = [
        (&["http"], "unknown value \"tcp\": expected \"http\""),
        (
            &["http", "https"],
            "unknown value \"tcp\": expected \"http\" or \"https\"",
        ),
        (
            &["http", "https", "grpc"],
            "unknown value \"tcp\": expected one of \"http\", \"https\", \"grpc\"",
        ),
        (&[], "unknown value \"tcp\": no value is accepted here"),
    ];
    for (variants, words) in cases {
        let message = serde(|| serde_json::Error::unknown_variant("tcp", variants));
        assert_eq!(in_user_words(&message), words, "from {message}");
    }
}

#[test]
fn wrong_lengths_count_entries() {
    let message = serde(|| serde_json::Error::invalid_length(3, &"a tuple of size 2"));
    assert_eq!(
        in_user_words(&message),
        "expected an array, found 3 entries"
    );
}

#[test]
fn other_messages_are_kept_but_never_echo_a_long_value() {
    assert_eq!(
        in_user_words("unclosed table, expected `]`"),
        "unclosed table, expected `]`"
    );
    let long = "x".repeat(10_000);
    let message = in_user_words(&format!("no such thing: \"{long}\" and `{long}`"));
    assert!(message.len() < 300, "{message}");
    assert!(message.contains("(10000 bytes)"), "{message}");
    let message = serde(|| serde_json::Error::invalid_type(Unexpected::Str(&long), &"i64"));
    let words = in_user_words(&message);
    assert!(words.starts_with("expected an integer, found the string \"xxx"));
    assert!(words.len() < 200, "{words}");
    let message = serde(|| serde_json::Error::unknown_field(&long, &["bind"]));
    assert!(in_user_words(&message).len() < 200);
    // Nothing recognisable to cut: the message as a whole is capped.
    assert!(in_user_words(&long).len() <= MAX_PARSE_MESSAGE + '…'.len_utf8());
}

#[test]
fn documents_read_in_the_users_words() {
    assert_eq!(
        toml_message("[server]\nworkers = \"x\"\n"),
        "expected an integer, found the string \"x\" (line 2, column 11)"
    );
    assert_eq!(
        toml_message("[server]\nworkers = 99999999999999999999\n"),
        "expected an integer, found the integer 99999999999999999999, which is too large (line 2, column 11)"
    );
    assert_eq!(
        toml_message("server = 5\n"),
        "expected a table, found the integer 5 (line 1, column 10)"
    );
    assert_eq!(
        toml_message("[server]\nwatch_config = \"yes\"\n"),
        "expected true or false, found the string \"yes\" (line 2, column 16)"
    );
    assert_eq!(
        toml_message("[target_groups.g]\ntargets = \"x\"\n"),
        "expected an array, found the string \"x\" (line 2, column 11)"
    );
    assert!(toml_message("[server]\nbogus = 1\n").starts_with(
        "unknown key \"bogus\" (known: workers, drain_timeout, zone, stickiness_secret"
    ));
    assert_eq!(
        toml_message("[listeners.web]\nbind = \"127.0.0.1:1\"\n"),
        "missing key \"default_action\", which is required (line 1, column 1)"
    );
    assert_eq!(
        json_message(serde_json::json!({ "listeners": { "web": { "bind": null } } })),
        "listeners.web.bind: expected a string, found null"
    );
    assert_eq!(
        json_message(serde_json::json!({ "server": { "workers": 1.5 } })),
        "server.workers: expected an integer, found the number 1.5"
    );
    assert_eq!(
        json_message(serde_json::json!({ "listeners": [] })),
        "listeners: expected a table, found an array"
    );
    assert_eq!(
        json_message(serde_json::json!({ "server": { "workers": u64::MAX } })),
        format!(
            "server.workers: invalid value {}: expected an integer from {} to {}",
            u64::MAX,
            i64::MIN,
            i64::MAX
        )
    );
}
