//! Validated TLS settings: what an `https` listener serves and how an `https` target group
//! is reached. Paths only: the `ballast-tls` crate loads and checks the files.

use std::path::PathBuf;
use std::time::Duration;

/// The TLS side of an `https` listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// Certificate chains and their keys, PEM; the first is served to clients without SNI.
    pub certificates: Vec<CertificateFiles>,
    /// Versions and cipher suites accepted.
    pub policy: TlsPolicy,
    /// Client certificates (mutual TLS), if asked for.
    pub client_certificates: Option<ClientCertificates>,
    /// Certificates obtained from an ACME directory, served beside (and before) the static
    /// ones for their domains.
    pub acme: Option<AcmeConfig>,
}

/// Automatic certificates for a listener: where to get them, for which names, how to prove
/// control of those names, and where to keep them between restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeConfig {
    /// The directory URL of the ACME server (`https://`).
    pub directory: String,
    /// DNS names of the certificate, lower case, in the order written; the first is its
    /// subject.
    pub domains: Vec<String>,
    /// Account contacts (`mailto:` URLs), possibly none.
    pub contact: Vec<String>,
    /// Where accounts, certificates and keys are kept.
    pub storage: PathBuf,
    /// How the ACME server checks that Ballast answers for the domains.
    pub challenge: AcmeChallenge,
    /// A certificate expiring within this long is renewed.
    pub renew_before: Duration,
    /// CA bundle for the directory's HTTPS; `None`: the system's roots.
    pub ca: Option<PathBuf>,
}

/// The ACME challenge types Ballast can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcmeChallenge {
    /// `http-01`: a token served at `/.well-known/acme-challenge/` by an `http` listener (port
    /// 80 in production).
    Http01,
    /// `tls-alpn-01` (RFC 8737): a special certificate offered on the `https` listener itself
    /// to clients asking for the `acme-tls/1` protocol (port 443 in production).
    TlsAlpn01,
}

/// One certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// PEM chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Mutual TLS on a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificates {
    /// Reject clients without a certificate from `ca`, or pass any certificate on.
    pub mode: ClientCertificateMode,
    /// CA bundle (PEM) client certificates must chain to (`verify` mode).
    pub ca: Option<PathBuf>,
}

/// What a listener does with client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertificateMode {
    /// Handshakes without a certificate from the CA bundle fail.
    Verify,
    /// Any certificate (or none) is accepted and sent to targets in a header.
    Passthrough,
}

/// A named security policy: TLS versions and cipher suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsPolicy {
    /// `ballast-tls12-2024` (default): TLS 1.3 and 1.2, forward-secret AEAD suites only.
    Recommended,
    /// `ballast-tls13-2024`: TLS 1.3 only.
    Tls13Only,
    /// `ballast-tls12-aes-2024`: as recommended, AES-GCM suites only.
    AesOnly,
}

/// How an `https` target group reaches its targets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetTls {
    /// Verify target certificates (`false` only when explicitly set).
    pub verify: bool,
    /// CA bundle to verify against; `None`: the system's roots.
    pub ca: Option<PathBuf>,
    /// Name sent as SNI and checked in the certificate; `None`: the target's IP address.
    pub server_name: Option<String>,
}

impl TlsPolicy {
    /// Every policy and its name.
    pub const ALL: [(TlsPolicy, &'static str); 3] = [
        (TlsPolicy::Recommended, "ballast-tls12-2024"),
        (TlsPolicy::Tls13Only, "ballast-tls13-2024"),
        (TlsPolicy::AesOnly, "ballast-tls12-aes-2024"),
    ];

    /// The name used in the file.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("", |(_, n)| n)
    }
}

impl AcmeChallenge {
    /// Every challenge type and its name in the file.
    pub const ALL: [(AcmeChallenge, &'static str); 2] = [
        (AcmeChallenge::Http01, "http-01"),
        (AcmeChallenge::TlsAlpn01, "tls-alpn-01"),
    ];
}

impl Default for TargetTls {
    fn default() -> Self {
        Self {
            verify: true,
            ca: None,
            server_name: None,
        }
    }
}
