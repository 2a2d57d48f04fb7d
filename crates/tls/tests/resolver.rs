//! Certificates from real PEM files (generated with rcgen), chosen by SNI.

use std::path::PathBuf;

use ballast_tls::{load_pair, SniResolver};
use rustls::crypto::ring;

fn write_pair(dir: &std::path::Path, name: &str, sans: &[&str]) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params =
        rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

#[test]
fn sni_picks_exact_then_wildcard_then_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let provider = ring::default_provider();
    let load = |name: &str, sans: &[&str]| {
        let (c, k) = write_pair(dir.path(), name, sans);
        load_pair(&c, &k, &provider).unwrap()
    };
    let default = load("default", &["default.example.org"]);
    let api = load("api", &["api.example.com"]);
    let wild = load("wild", &["*.example.com"]);
    assert_eq!(wild.names, ["*.example.com"]);
    let resolver = SniResolver::new(&[default.clone(), api.clone(), wild.clone()]);
    let same = |a: &std::sync::Arc<rustls::sign::CertifiedKey>,
                b: &ballast_tls::CertificateInfo| {
        std::sync::Arc::ptr_eq(a, &b.key)
    };
    assert!(same(
        &resolver.certificate_for(Some("API.example.com")).unwrap(),
        &api
    ));
    assert!(same(
        &resolver.certificate_for(Some("www.example.com")).unwrap(),
        &wild
    ));
    assert!(
        same(
            &resolver.certificate_for(Some("a.b.example.com")).unwrap(),
            &default
        ),
        "one label only"
    );
    assert!(same(
        &resolver.certificate_for(Some("other.net")).unwrap(),
        &default
    ));
    assert!(same(&resolver.certificate_for(None).unwrap(), &default));
    // Rotation: the next handshake sees the new table.
    resolver.replace(std::slice::from_ref(&wild));
    assert!(same(&resolver.certificate_for(None).unwrap(), &wild));
}

#[test]
fn mismatched_or_missing_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let provider = ring::default_provider();
    let (cert_a, _) = write_pair(dir.path(), "a", &["a.example.com"]);
    let (_, key_b) = write_pair(dir.path(), "b", &["b.example.com"]);
    let error = load_pair(&cert_a, &key_b, &provider)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("b.key") && error.contains("does not match"),
        "{error}"
    );
    let missing = dir.path().join("missing.pem");
    let error = load_pair(&missing, &key_b, &provider)
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing.pem"), "{error}");
}

#[test]
fn policies_offer_what_docs_tls_md_says() {
    use ballast_tls::{policy_suites, TlsPolicy};
    let recommended = policy_suites(TlsPolicy::Recommended);
    assert!(recommended.iter().any(|s| s.contains("CHACHA20")));
    assert!(
        recommended.iter().any(|s| s.starts_with("TLS13_"))
            && recommended.iter().any(|s| s.starts_with("TLS_ECDHE_"))
    );
    let aes = policy_suites(TlsPolicy::AesOnly);
    assert!(
        !aes.is_empty() && aes.iter().all(|s| !s.contains("CHACHA20")),
        "{aes:?}"
    );
}

#[test]
fn managed_certificates_win_for_their_names_and_keep_the_configured_default() {
    let dir = tempfile::tempdir().unwrap();
    let provider = ring::default_provider();
    let load = |name: &str, sans: &[&str]| {
        let (c, k) = write_pair(dir.path(), name, sans);
        load_pair(&c, &k, &provider).unwrap()
    };
    let same = |a: Option<std::sync::Arc<rustls::sign::CertifiedKey>>,
                b: &ballast_tls::CertificateInfo| {
        a.is_some_and(|a| std::sync::Arc::ptr_eq(&a, &b.key))
    };
    // ACME only, nothing issued yet: no certificate at all (the handshake fails).
    let empty = SniResolver::new(&[]);
    assert!(empty.certificate_for(Some("acme.test")).is_none());
    let issued = load("issued", &["acme.test"]);
    empty.replace_managed(std::slice::from_ref(&issued));
    assert!(same(empty.certificate_for(Some("acme.test")), &issued));
    assert!(same(empty.certificate_for(None), &issued));

    // Beside a static certificate for the same name, the managed one wins; the static one
    // stays the default, and a static rotation keeps the managed one.
    let fallback = load("fallback", &["acme.test", "other.test"]);
    let both = SniResolver::new(std::slice::from_ref(&fallback));
    assert!(same(both.certificate_for(Some("acme.test")), &fallback));
    both.replace_managed(std::slice::from_ref(&issued));
    assert!(same(both.certificate_for(Some("acme.test")), &issued));
    assert!(same(both.certificate_for(Some("other.test")), &fallback));
    assert!(same(both.certificate_for(None), &fallback));
    let rotated = load("rotated", &["other.test"]);
    both.replace(std::slice::from_ref(&rotated));
    assert!(same(both.certificate_for(Some("acme.test")), &issued));
    assert!(same(both.certificate_for(None), &rotated));
}
