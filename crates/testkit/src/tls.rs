//! Real TLS for tests: a CA that issues certificates into files (rcgen), TLS clients that
//! report which certificate they were shown, and a TLS backend.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::DigitallySignedStruct;
use tokio::net::TcpStream;

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

/// The signature schemes a client that verifies only ECDSA offers.
pub const ECDSA_SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
];

/// The signature schemes a client that verifies only RSA offers (PSS for TLS 1.3, PKCS#1
/// for TLS 1.2).
pub const RSA_SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PKCS1_SHA256,
    SignatureScheme::RSA_PKCS1_SHA384,
];

/// Options of a test TLS client.
#[derive(Default, Clone)]
pub struct ClientOptions {
    /// SNI to send (`None`: the IP address, which sends no SNI).
    pub sni: Option<String>,
    /// ALPN protocols to offer.
    pub alpn: Vec<Vec<u8>>,
    /// A client certificate to present.
    pub client_cert: Option<Issued>,
    /// Offer TLS 1.2 only.
    pub tls12_only: bool,
    /// Offer only these signature schemes (`None`: every scheme the provider verifies), as a
    /// client that can verify only some key types does.
    pub signature_schemes: Option<Vec<SignatureScheme>>,
}

/// The result of a handshake: the stream, the leaf certificate the server showed, and the
/// ALPN protocol chosen.
pub struct Handshake {
    pub stream: tokio_rustls::client::TlsStream<TcpStream>,
    pub server_cert: CertificateDer<'static>,
    pub alpn: Option<Vec<u8>>,
}

/// Connects with TLS, accepting whatever certificate the server shows (and reporting it).
pub async fn tls_connect(addr: SocketAddr, options: &ClientOptions) -> std::io::Result<Handshake> {
    let seen = Arc::new(Mutex::new(None));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if options.tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Capture {
            seen: Arc::clone(&seen),
            schemes: options.signature_schemes.clone(),
            provider,
        }));
    let mut config = match &options.client_cert {
        Some(issued) => builder
            .with_client_auth_cert(
                vec![issued.der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key_der.clone())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = options.alpn.clone();
    let name = match &options.sni {
        Some(sni) => ServerName::try_from(sni.clone()).unwrap(),
        None => ServerName::IpAddress(addr.ip().into()),
    };
    let tcp = TcpStream::connect(addr).await?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let server_cert = seen.lock().unwrap().clone().expect("a server certificate");
    Ok(Handshake {
        stream,
        server_cert,
        alpn,
    })
}

/// A client configuration that trusts only the CA certificates in `root_pem` and verifies
/// the server's chain and name, as a browser would.
pub fn verifying_client(root_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

/// Connects with TLS as `sni`, verifying the server's certificate against `root_pem` (a PEM
/// CA certificate) the way a browser would: an error unless the chain and name check out.
pub async fn tls_connect_verified(
    addr: SocketAddr,
    sni: &str,
    root_pem: &str,
) -> std::io::Result<Handshake> {
    let tcp = TcpStream::connect(addr).await?;
    let stream = tokio_rustls::TlsConnector::from(verifying_client(root_pem))
        .connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp)
        .await?;
    let session = stream.get_ref().1;
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let server_cert = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("a server certificate")
        .clone()
        .into_owned();
    Ok(Handshake {
        stream,
        server_cert,
        alpn,
    })
}

/// One HTTP/1.1 GET over an established TLS stream, with `Host`.
pub async fn https_get(handshake: Handshake, host: &str, path: &str) -> http::Response<Bytes> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(handshake.stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

/// One HTTP/2 GET over an established TLS stream (ALPN `h2`).
pub async fn h2_get(handshake: Handshake, authority: &str, path: &str) -> http::Response<Bytes> {
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(handshake.stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("https://{authority}{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

/// Accepts any server certificate and keeps it; offers `schemes` when given.
#[derive(Debug)]
struct Capture {
    seen: Arc<Mutex<Option<CertificateDer<'static>>>>,
    schemes: Option<Vec<SignatureScheme>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.clone().into_owned());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match &self.schemes {
            Some(schemes) => schemes.clone(),
            None => self
                .provider
                .signature_verification_algorithms
                .supported_schemes(),
        }
    }
}

/// A TLS backend on 127.0.0.1:0 serving `certificate`, answering 200 `tls-ok`, recording
/// nothing. Dropping it stops accepting.
pub struct TlsBackend {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsBackend {
    pub async fn spawn(certificate: &Issued) -> TlsBackend {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certificate.key_der.clone())),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from_static(b"tls-ok"),
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        TlsBackend { addr, task }
    }
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}
