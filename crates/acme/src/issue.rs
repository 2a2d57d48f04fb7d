//! One issuance: account, order, challenges answered through the shared store, CSR,
//! certificate, stored on disk.

use std::sync::Arc;
use std::time::Duration;

use ballast_config::{AcmeChallenge, AcmeConfig};
use ballast_tls::AcmeChallenges;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, DnType, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::client::HttpsClient;
use crate::storage::Storage;
use crate::AcmeError;

/// How long the CA may take to validate the challenges, and then to issue.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(120));

/// Obtains a certificate for `config.domains` and stores it. Challenge answers are in
/// `challenges` only while this runs.
pub(crate) async fn issue(
    config: &AcmeConfig,
    storage: &Storage,
    challenges: &Arc<AcmeChallenges>,
) -> Result<(), AcmeError> {
    let account = account(config, storage).await?;
    let identifiers: Vec<Identifier> = config
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let mut answers = Answers {
        store: Arc::clone(challenges),
        tokens: Vec::new(),
        domains: Vec::new(),
    };
    let kind = match config.challenge {
        AcmeChallenge::Http01 => ChallengeType::Http01,
        AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
    };
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization?;
        match authorization.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            status => {
                return Err(AcmeError::Authorization {
                    identifier: authorization.identifier().to_string(),
                    status,
                })
            }
        }
        let mut challenge = authorization
            .challenge(kind.clone())
            .ok_or(AcmeError::NoChallenge(kind_name(config.challenge)))?;
        let key_authorization = challenge.key_authorization();
        match config.challenge {
            AcmeChallenge::Http01 => answers.http01(&challenge.token, key_authorization.as_str()),
            AcmeChallenge::TlsAlpn01 => {
                let domain = challenge.identifier().to_string();
                let certificate = tls_alpn01_certificate(&domain, key_authorization.digest())?;
                answers.tls_alpn01(&domain, certificate);
            }
        }
        challenge.set_ready().await?;
    }
    let status = order.poll_ready(&POLL).await?;
    if status != OrderStatus::Ready {
        return Err(AcmeError::OrderNotReady(status));
    }
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(config.domains.clone())?;
    params.distinguished_name = DistinguishedName::new();
    if let Some(first) = config.domains.first() {
        params.distinguished_name.push(DnType::CommonName, first);
    }
    let csr = params.serialize_request(&key)?;
    order.finalize_csr(csr.der()).await?;
    let chain = order.poll_certificate(&POLL).await?;
    drop(answers);
    storage.save(&chain, &key.serialize_pem())
}

/// The stored account for the directory, or a new one (stored for next time). Configuring
/// ACME accepts the CA's terms of service.
async fn account(config: &AcmeConfig, storage: &Storage) -> Result<Account, AcmeError> {
    let http = Box::new(HttpsClient::new(config.ca.as_deref())?);
    if let Some(json) = storage.load_account()? {
        match serde_json::from_str::<AccountCredentials>(&json) {
            Ok(credentials) => {
                return Ok(Account::builder_with_http(http)
                    .from_credentials(credentials)
                    .await?)
            }
            Err(error) => {
                tracing::warn!(path = %storage.account.display(), %error, "ACME account file unreadable: creating a new account");
            }
        }
    }
    let contact: Vec<&str> = config.contact.iter().map(String::as_str).collect();
    let (account, credentials) = Account::builder_with_http(http)
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            config.directory.clone(),
            None,
        )
        .await?;
    let json = serde_json::to_string(&credentials).map_err(AcmeError::AccountCredentials)?;
    storage.save_account(&json)?;
    tracing::info!(directory = %config.directory, account = account.id(), "ACME account created");
    Ok(account)
}

/// The self-signed certificate answering a `tls-alpn-01` challenge: the domain as its only
/// name and the SHA-256 of the key authorization in a critical acmeIdentifier extension
/// (RFC 8737 §3).
fn tls_alpn01_certificate(
    domain: &str,
    digest: impl AsRef<[u8]>,
) -> Result<Arc<CertifiedKey>, AcmeError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec![domain.to_owned()])?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest.as_ref())];
    let certificate = params.self_signed(&key)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(der)
        .map_err(AcmeError::ChallengeKey)?;
    Ok(Arc::new(CertifiedKey::new(
        vec![certificate.der().clone()],
        signing,
    )))
}

fn kind_name(challenge: AcmeChallenge) -> &'static str {
    AcmeChallenge::ALL
        .iter()
        .find(|(c, _)| *c == challenge)
        .map_or("", |(_, n)| n)
}

/// The answers this issuance put in the shared store, taken out again when it ends, however
/// it ends (success, error, or the task being aborted).
struct Answers {
    store: Arc<AcmeChallenges>,
    tokens: Vec<String>,
    domains: Vec<String>,
}

impl Answers {
    fn http01(&mut self, token: &str, key_authorization: &str) {
        self.store.set_http01(token, key_authorization);
        self.tokens.push(token.to_owned());
    }

    fn tls_alpn01(&mut self, domain: &str, certificate: Arc<CertifiedKey>) {
        self.store.set_tls_alpn01(domain, certificate);
        self.domains.push(domain.to_owned());
    }
}

impl Drop for Answers {
    fn drop(&mut self) {
        for token in &self.tokens {
            self.store.remove_http01(token);
        }
        for domain in &self.domains {
            self.store.remove_tls_alpn01(domain);
        }
    }
}
