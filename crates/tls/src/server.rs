//! The rustls server configuration of an `https` listener.

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

use crate::policy::{provider, versions};
use crate::{SniResolver, TlsError, TlsPolicy};

/// A server configuration for `policy` whose certificates come from `resolver`, speaking
/// `h2` and `http/1.1` by ALPN. With `client_ca`, client certificates are verified against
/// that bundle; with `passthrough`, any client certificate is accepted (mutual TLS
/// passthrough). A resolver answering ACME also offers `acme-tls/1`, last, so that only an
/// ACME server validating `tls-alpn-01` (which offers nothing else) ever gets it.
pub fn build_server_config(
    policy: TlsPolicy,
    resolver: Arc<SniResolver>,
    client_ca: Option<&Path>,
    passthrough: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider(policy);
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions(policy))?;
    let builder = match client_ca {
        None if passthrough => {
            builder.with_client_cert_verifier(Arc::new(crate::passthrough::AnyClientCert(provider)))
        }
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = crate::client::load_roots(ca)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|source| TlsError::Verifier {
                    ca: ca.to_owned(),
                    source,
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let acme = resolver.answers_acme();
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if acme {
        config.alpn_protocols.push(crate::ACME_TLS_ALPN.to_vec());
    }
    Ok(Arc::new(config))
}
