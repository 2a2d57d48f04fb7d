use crate::parse;
use crate::tls::{ClientCertificateMode, TlsPolicy};

/// A file that exists: this crate's manifest (validation only checks it opens).
fn file() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml").to_owned()
}

fn listener(protocol: &str, tls: &str) -> String {
    format!(
        "[listeners.web]\nbind = \"127.0.0.1:0\"\nprotocol = \"{protocol}\"\ndefault_action = {{ forward = \"app\" }}\n{tls}\n[target_groups.app]\n"
    )
}

fn messages(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors for {text}"),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn https_listeners_and_groups_are_read() {
    let f = file();
    let config = parse(&format!(
        "{}\n[target_groups.secure]\nprotocol = \"https\"\ntls = {{ ca = \"{f}\", server_name = \"backend.internal\" }}\n",
        listener(
            "https",
            &format!("tls = {{ certificates = [{{ cert = \"{f}\", key = \"{f}\" }}], policy = \"ballast-tls13-2024\", client_certificates = {{ mode = \"passthrough\" }} }}")
        )
    ))
    .unwrap();
    let tls = config.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.policy, TlsPolicy::Tls13Only);
    assert_eq!(
        tls.client_certificates.as_ref().unwrap().mode,
        ClientCertificateMode::Passthrough
    );
    let group = config
        .target_groups
        .iter()
        .find(|g| &*g.name.0 == "secure")
        .unwrap();
    let target = group.tls.as_ref().unwrap();
    assert!(target.verify && target.ca.is_some());
    assert_eq!(target.server_name.as_deref(), Some("backend.internal"));
    let plain = config
        .target_groups
        .iter()
        .find(|g| &*g.name.0 == "app")
        .unwrap();
    assert!(plain.tls.is_none());
}

#[test]
fn bad_tls_settings_name_their_key() {
    let f = file();
    let cases = [
        (listener("https", ""), "listeners.web.tls: invalid value a listener that terminates TLS without tls".to_owned()),
        (listener("http", &format!("tls = {{ certificates = [{{ cert = \"{f}\", key = \"{f}\" }}] }}")), "listeners.web.tls: invalid value tls on a listener that is not https or tls".to_owned()),
        (listener("https", "tls = { certificates = [{ cert = \"/nonexistent.pem\", key = \"/nonexistent.key\" }] }"), "listeners.web.tls.certificates[0].cert: invalid value \"/nonexistent.pem\": expected a readable file".to_owned()),
        (listener("https", "tls = { certificates = [] }"), "listeners.web.tls.certificates: invalid value no certificate".to_owned()),
        (listener("https", &format!("tls = {{ certificates = [{{ cert = \"{f}\", key = \"{f}\" }}], policy = \"old\" }}")), "listeners.web.tls.policy: invalid value \"old\": expected one of \"ballast-tls12-2024\"".to_owned()),
        (listener("https", &format!("tls = {{ certificates = [{{ cert = \"{f}\", key = \"{f}\" }}], client_certificates = {{ mode = \"verify\" }} }}")), "listeners.web.tls.client_certificates.ca: invalid value no CA bundle".to_owned()),
        (format!("{}\n[target_groups.b]\ntls = {{ verify = false }}\n", listener("http", "")), "target_groups.b.tls: invalid value tls on a group that is not https or tls".to_owned()),
        (listener("https", &format!("tls = {{ certificates = [{{ cert = \"{f}\", key = \"{f}\" }}, {{ cert = \"{f}\", key = \"{f}\" }}] }}")), format!("listeners.web.tls.certificates[1].cert: certificate file \"{f}\" is already used by listeners.web.tls.certificates[0].cert")),
    ];
    for (text, expected) in cases {
        let errors = messages(&text);
        assert!(
            errors.iter().any(|e| e.starts_with(&expected)),
            "{text}\n{errors:#?}"
        );
    }
}

#[test]
fn a_huge_certificate_path_is_cut_in_the_conflict() {
    // Found by fuzzing (fuzz/seeds/config_loader/long_certificate_path.toml).
    let huge = format!("/{}", "c".repeat(5000));
    let errors = messages(&listener(
        "https",
        &format!("tls = {{ certificates = [{{ cert = \"{huge}\", key = \"k\" }}, {{ cert = \"{huge}\", key = \"k\" }}] }}"),
    ));
    assert!(errors.iter().any(|e| e.contains("is already used by")));
    assert!(errors.iter().all(|e| e.len() < 1000), "{errors:?}");
}
