//! Certificates from real PEM files (generated with rcgen), chosen by SNI.

use std::path::PathBuf;

use ballast_testkit::tls::{LeafKey, TestCa, ECDSA_SCHEMES, RSA_SCHEMES};
use ballast_tls::{load_pair, CertificateInfo, SniResolver};
use rustls::crypto::ring;
use rustls::SignatureScheme;

/// What a client verifying every common key type offers.
const ANY: [SignatureScheme; 4] = [
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ED25519,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PKCS1_SHA256,
];

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
        &resolver
            .certificate_for(Some("API.example.com"), &ANY)
            .unwrap(),
        &api
    ));
    assert!(same(
        &resolver
            .certificate_for(Some("www.example.com"), &ANY)
            .unwrap(),
        &wild
    ));
    assert!(
        same(
            &resolver
                .certificate_for(Some("a.b.example.com"), &ANY)
                .unwrap(),
            &default
        ),
        "one label only"
    );
    assert!(same(
        &resolver.certificate_for(Some("other.net"), &ANY).unwrap(),
        &default
    ));
    assert!(same(
        &resolver.certificate_for(None, &ANY).unwrap(),
        &default
    ));
    // Rotation: the next handshake sees the new table.
    resolver.replace(std::slice::from_ref(&wild));
    assert!(same(&resolver.certificate_for(None, &ANY).unwrap(), &wild));
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
    assert!(empty.certificate_for(Some("acme.test"), &ANY).is_none());
    let issued = load("issued", &["acme.test"]);
    empty.replace_managed(std::slice::from_ref(&issued));
    assert!(same(
        empty.certificate_for(Some("acme.test"), &ANY),
        &issued
    ));
    assert!(same(empty.certificate_for(None, &ANY), &issued));

    // Beside a static certificate for the same name, the managed one wins; the static one
    // stays the default, and a static rotation keeps the managed one.
    let fallback = load("fallback", &["acme.test", "other.test"]);
    let both = SniResolver::new(std::slice::from_ref(&fallback));
    assert!(same(
        both.certificate_for(Some("acme.test"), &ANY),
        &fallback
    ));
    both.replace_managed(std::slice::from_ref(&issued));
    assert!(same(both.certificate_for(Some("acme.test"), &ANY), &issued));
    assert!(same(
        both.certificate_for(Some("other.test"), &ANY),
        &fallback
    ));
    assert!(same(both.certificate_for(None, &ANY), &fallback));
    let rotated = load("rotated", &["other.test"]);
    both.replace(std::slice::from_ref(&rotated));
    assert!(same(both.certificate_for(Some("acme.test"), &ANY), &issued));
    assert!(same(both.certificate_for(None, &ANY), &rotated));
}

#[test]
fn one_name_with_an_rsa_and_an_ecdsa_certificate_serves_each_client_the_one_it_verifies() {
    let ca = TestCa::new("resolver ca");
    let provider = ring::default_provider();
    let load = |file: &str, names: &[&str], kind: LeafKey| {
        let issued = ca.issue_with(file, names, kind);
        load_pair(&issued.cert, &issued.key, &provider).unwrap()
    };
    let same = |a: Option<std::sync::Arc<rustls::sign::CertifiedKey>>, b: &CertificateInfo| {
        a.is_some_and(|a| std::sync::Arc::ptr_eq(&a, &b.key))
    };
    let rsa = load("rsa", &["site.test", "www.site.test"], LeafKey::Rsa2048);
    let ecdsa = load("ecdsa", &["site.test", "www.site.test"], LeafKey::EcdsaP256);
    let older = load("older", &["site.test"], LeafKey::EcdsaP256);
    let other = load("other", &["other.test"], LeafKey::EcdsaP256);
    // RSA listed first (the default), then its ECDSA twin, then a second ECDSA certificate
    // for the same name (never served for it: the first of a key type wins).
    let resolver = SniResolver::new(&[rsa.clone(), ecdsa.clone(), older, other.clone()]);
    for name in [
        Some("site.test"),
        Some("WWW.site.test"),
        None,
        Some("unknown.test"),
    ] {
        assert!(
            same(resolver.certificate_for(name, &ANY), &ecdsa),
            "{name:?}"
        );
        assert!(
            same(resolver.certificate_for(name, ECDSA_SCHEMES), &ecdsa),
            "{name:?}"
        );
        assert!(
            same(resolver.certificate_for(name, RSA_SCHEMES), &rsa),
            "{name:?}"
        );
    }
    // A name with one certificate gets it whatever the client offers.
    assert!(same(
        resolver.certificate_for(Some("other.test"), RSA_SCHEMES),
        &other
    ));

    // An ACME (ECDSA) certificate wins for its names over the static ECDSA one, and a
    // client that verifies only RSA still gets the static RSA certificate.
    let issued = load("acme", &["site.test"], LeafKey::EcdsaP256);
    resolver.replace_managed(std::slice::from_ref(&issued));
    assert!(same(
        resolver.certificate_for(Some("site.test"), &ANY),
        &issued
    ));
    assert!(same(
        resolver.certificate_for(Some("site.test"), RSA_SCHEMES),
        &rsa
    ));
}
