//! The choice between a name's certificates, with real keys of every type (RSA from the
//! openssl tool) and the signature schemes real clients offer.

use super::*;
use ballast_testkit::tls::{LeafKey, TestCa, ECDSA_SCHEMES, RSA_SCHEMES};
use rustls::crypto::ring;

fn key(ca: &TestCa, file: &str, kind: LeafKey) -> Arc<CertifiedKey> {
    let issued = ca.issue_with(file, &["site.test"], kind);
    crate::load_pair(&issued.cert, &issued.key, &ring::default_provider())
        .unwrap()
        .key
}

/// What a client verifying every algorithm of the ring provider offers.
fn every_scheme() -> Vec<SignatureScheme> {
    ring::default_provider()
        .signature_verification_algorithms
        .supported_schemes()
}

fn same(a: Option<&Arc<CertifiedKey>>, b: &Arc<CertifiedKey>) -> bool {
    a.is_some_and(|a| Arc::ptr_eq(a, b))
}

#[test]
fn ecdsa_when_the_client_verifies_it_rsa_otherwise_whatever_the_order() {
    let ca = TestCa::new("choice ca");
    let rsa = key(&ca, "rsa", LeafKey::Rsa2048);
    let ecdsa = key(&ca, "ecdsa", LeafKey::EcdsaP256);
    for keys in [[rsa.clone(), ecdsa.clone()], [ecdsa.clone(), rsa.clone()]] {
        assert!(same(choose(&keys, &every_scheme()), &ecdsa));
        assert!(same(choose(&keys, ECDSA_SCHEMES), &ecdsa));
        assert!(same(choose(&keys, RSA_SCHEMES), &rsa));
        // Nothing the client can verify: the first listed, and the handshake fails as it
        // would have with that certificate alone.
        assert!(same(choose(&keys, &[SignatureScheme::ED25519]), &keys[0]));
        assert!(same(choose(&keys, &[]), &keys[0]));
    }
}

#[test]
fn a_key_the_client_cannot_verify_is_passed_over() {
    let ca = TestCa::new("choice ca");
    let p384 = key(&ca, "p384", LeafKey::EcdsaP384);
    let rsa = key(&ca, "rsa", LeafKey::Rsa2048);
    let keys = [p384.clone(), rsa.clone()];
    let p256_or_rsa = [
        SignatureScheme::ECDSA_NISTP256_SHA256,
        SignatureScheme::RSA_PSS_SHA256,
    ];
    assert!(same(choose(&keys, &p256_or_rsa), &rsa));
    assert!(same(choose(&keys, ECDSA_SCHEMES), &p384));
}

#[test]
fn ed25519_comes_after_ecdsa_and_before_rsa() {
    let ca = TestCa::new("choice ca");
    let rsa = key(&ca, "rsa", LeafKey::Rsa2048);
    let ed = key(&ca, "ed", LeafKey::Ed25519);
    let ecdsa = key(&ca, "ecdsa", LeafKey::EcdsaP256);
    let keys = [rsa.clone(), ed.clone(), ecdsa.clone()];
    assert!(same(choose(&keys, &every_scheme()), &ecdsa));
    let no_ecdsa: Vec<SignatureScheme> = every_scheme()
        .into_iter()
        .filter(|s| !ECDSA_SCHEMES.contains(s))
        .collect();
    assert!(same(choose(&keys, &no_ecdsa), &ed));
    assert!(same(choose(&keys, RSA_SCHEMES), &rsa));
}

#[test]
fn one_certificate_per_key_type_the_first_listed() {
    let ca = TestCa::new("choice ca");
    let first = key(&ca, "first", LeafKey::EcdsaP256);
    let second = key(&ca, "second", LeafKey::EcdsaP384);
    let rsa = key(&ca, "rsa", LeafKey::Rsa2048);
    let mut choice = KeyChoice::default();
    assert!(choice.choose(&every_scheme()).is_none());
    choice.offer(&first);
    // Alone, it serves every client: the schemes are not even looked at.
    assert!(same(choice.choose(RSA_SCHEMES).as_ref(), &first));
    choice.offer(&second);
    choice.offer(&rsa);
    assert_eq!(
        choice.0.len(),
        2,
        "one ECDSA (the first listed) and one RSA"
    );
    assert!(same(choice.choose(ECDSA_SCHEMES).as_ref(), &first));
    assert!(same(choice.choose(RSA_SCHEMES).as_ref(), &rsa));
}
