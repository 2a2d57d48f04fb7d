//! Real TLS for tests: a CA that issues certificates into files (rcgen), TLS clients that
//! report which certificate they were shown (`tls/client.rs`), and a TLS backend
//! (`tls/backend.rs`).

mod backend;
mod client;

use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;

pub use backend::TlsBackend;
pub use client::{
    h2_get, https_get, tls_connect, tls_connect_verified, verifying_client, ClientOptions,
    Handshake, ECDSA_SCHEMES, RSA_SCHEMES,
};
/// The signature schemes a client offers (for [`ClientOptions::signature_schemes`]).
pub use rustls::SignatureScheme;

/// A certificate authority writing PEM files into a temporary directory.
pub struct TestCa {
    dir: tempfile::TempDir,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    cert_pem: String,
}

/// A certificate issued by a [`TestCa`]: its files and DER.
#[derive(Clone)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

impl Issued {
    /// A rustls server configuration presenting this certificate (ring, safe defaults, no
    /// client authentication, no ALPN).
    pub fn server_config(&self) -> rustls::ServerConfig {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![self.der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        )
        .unwrap()
    }
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).unwrap();
        TestCa {
            cert_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
            dir,
        }
    }

    /// The CA certificate's file (a bundle of one).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn ca_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A leaf for `names` (DNS names or IP addresses), written as `FILE.pem` / `FILE.key`,
    /// with an ECDSA P-256 key.
    pub fn issue(&self, file: &str, names: &[&str]) -> Issued {
        self.issue_with(file, names, LeafKey::EcdsaP256)
    }

    /// [`Self::issue`] with a key of the given type.
    pub fn issue_with(&self, file: &str, names: &[&str], kind: LeafKey) -> Issued {
        let key = match kind {
            LeafKey::EcdsaP256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            LeafKey::EcdsaP384 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            LeafKey::Ed25519 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519),
            LeafKey::Rsa2048 => {
                rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(rsa_key_pem(), &rcgen::PKCS_RSA_SHA256)
            }
        }
        .unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        self.write(file, &cert, &key)
    }

    /// A client certificate (for mutual TLS).
    pub fn issue_client(&self, file: &str, name: &str) -> Issued {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        self.write(file, &cert, &key)
    }

    fn write(&self, file: &str, cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> Issued {
        let cert_path = self.dir.path().join(format!("{file}.pem"));
        let key_path = self.dir.path().join(format!("{file}.key"));
        std::fs::write(&cert_path, format!("{}{}", cert.pem(), self.cert_pem)).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Issued {
            cert: cert_path,
            key: key_path,
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The key type of a leaf certificate from [`TestCa::issue_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKey {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    /// RSA 2048: rcgen with ring cannot make RSA keys, so `openssl genpkey` makes one (once
    /// per test process; every RSA leaf shares it).
    Rsa2048,
}

/// A PKCS#8 RSA key from the real `openssl` tool (which the TLS tests use as a client too).
fn rsa_key_pem() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let output = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("openssl is installed (apt-get install openssl)");
        assert!(
            output.status.success(),
            "openssl genpkey: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    })
}
