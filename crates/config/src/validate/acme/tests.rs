use std::time::Duration;

use crate::defaults::{DEFAULT_ACME_RENEW_BEFORE, DEFAULT_ACME_STORAGE};
use crate::parse;
use crate::tls::AcmeChallenge;

/// An https listener `web` with `acme`, and (when `http`) an http listener `plain`.
fn config(acme: &str, http: bool) -> String {
    let plain = if http {
        "[listeners.plain]\nbind = \"127.0.0.1:0\"\ndefault_action = { forward = \"app\" }\n"
    } else {
        ""
    };
    format!(
        "[listeners.web]\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\ndefault_action = {{ forward = \"app\" }}\n[listeners.web.tls.acme]\n{acme}\n{plain}[target_groups.app]\n"
    )
}

fn messages(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors for {text}"),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn acme_alone_needs_no_static_certificate_and_fills_defaults() {
    let text = config(
        "directory = \"https://acme.example/dir\"\ndomains = [\"Example.TEST\", \"www.example.test\"]",
        true,
    );
    let config = parse(&text).unwrap();
    let tls = config
        .listeners
        .iter()
        .find(|l| &*l.name.0 == "web")
        .and_then(|l| l.tls.as_ref())
        .unwrap();
    assert!(tls.certificates.is_empty());
    let acme = tls.acme.as_ref().unwrap();
    assert_eq!(acme.domains, ["example.test", "www.example.test"]);
    assert_eq!(acme.challenge, AcmeChallenge::Http01);
    assert_eq!(acme.renew_before, DEFAULT_ACME_RENEW_BEFORE);
    assert_eq!(acme.storage.to_str(), Some(DEFAULT_ACME_STORAGE));
    assert!(acme.contact.is_empty() && acme.ca.is_none());
}

#[test]
fn every_acme_key_is_read() {
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let text = config(
        &format!("directory = \"https://127.0.0.1:14000/dir\"\ndomains = [\"acme.test\"]\ncontact = [\"mailto:ops@example.test\"]\nstorage = \"/tmp/acme\"\nchallenge = \"tls-alpn-01\"\nrenew_before = \"10d\"\nca = \"{ca}\""),
        false,
    );
    let config = parse(&text).unwrap();
    let acme = config.listeners[0]
        .tls
        .as_ref()
        .unwrap()
        .acme
        .clone()
        .unwrap();
    assert_eq!(acme.challenge, AcmeChallenge::TlsAlpn01);
    assert_eq!(acme.renew_before, Duration::from_secs(10 * 86_400));
    assert_eq!(acme.contact, ["mailto:ops@example.test"]);
    assert_eq!(acme.storage.to_str(), Some("/tmp/acme"));
    assert!(acme.ca.is_some());
}

#[test]
fn bad_acme_settings_name_their_key() {
    let good = "directory = \"https://acme.example/dir\"\ndomains = [\"example.test\"]";
    let cases = [
        (config("directory = \"http://acme.example/dir\"\ndomains = [\"example.test\"]", true), "listeners.web.tls.acme.directory: invalid value \"http://acme.example/dir\": expected the https:// URL"),
        (config("directory = \"https://acme.example/dir\"\ndomains = []", true), "listeners.web.tls.acme.domains: invalid value no domain"),
        (config("directory = \"https://acme.example/dir\"\ndomains = [\"a.test\", \"*.example.test\"]", true), "listeners.web.tls.acme.domains[1]: invalid value \"*.example.test\": expected a DNS name without a wildcard"),
        (config("directory = \"https://acme.example/dir\"\ndomains = [\"bad_name.test\"]", true), "listeners.web.tls.acme.domains[0]: invalid value \"bad_name.test\": expected a DNS name"),
        (config("directory = \"https://acme.example/dir\"\ndomains = [\"a.test\", \"A.test\"]", true), "listeners.web.tls.acme.domains[1]: invalid value \"A.test\": expected each domain once"),
        (config(&format!("{good}\ncontact = [\"ops@example.test\"]"), true), "listeners.web.tls.acme.contact[0]: invalid value \"ops@example.test\": expected a mailto: URL"),
        (config(&format!("{good}\nchallenge = \"dns-01\""), true), "listeners.web.tls.acme.challenge: invalid value \"dns-01\": expected \"http-01\" or \"tls-alpn-01\""),
        (config(&format!("{good}\nrenew_before = \"0s\""), true), "listeners.web.tls.acme.renew_before: invalid value \"0s\": expected a duration greater than zero"),
        (config(&format!("{good}\nca = \"/nonexistent.pem\""), true), "listeners.web.tls.acme.ca: invalid value \"/nonexistent.pem\": expected a readable file"),
        (config(&format!("{good}\nstorage = \"\""), true), "listeners.web.tls.acme.storage: invalid value \"\": expected a directory path"),
        (config(&format!("{good}\nrenew = \"1d\""), true), "listeners.web.tls.acme"),
        (config(good, false), "listeners.web.tls.acme.challenge: invalid value \"http-01\" with no http listener to answer it"),
    ];
    for (text, expected) in cases {
        let errors = messages(&text);
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "{text}\n{errors:#?}"
        );
    }
}

#[test]
fn an_https_listener_needs_certificates_or_acme() {
    let text = "[listeners.web]\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\ndefault_action = { forward = \"app\" }\ntls = { policy = \"ballast-tls12-2024\" }\n[target_groups.app]\n";
    let errors = messages(text);
    assert!(
        errors.iter().any(|e| e.starts_with("listeners.web.tls.certificates: invalid value no certificate: expected at least one { cert = \"FILE\", key = \"FILE\" }, or an acme table")),
        "{errors:#?}"
    );
}
