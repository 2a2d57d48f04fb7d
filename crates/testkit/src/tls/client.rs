//! TLS clients for tests: one that accepts any certificate and reports which it was shown,
//! one that verifies as a browser would, and HTTP/1.1 and HTTP/2 GETs over either.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

use super::Issued;

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
