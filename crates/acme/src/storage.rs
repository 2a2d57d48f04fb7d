//! Where a listener's ACME state lives on disk: one directory per listener and domain set
//! holding `cert.pem` and `key.pem` (mode 0600), and one account file per directory URL
//! (mode 0600), shared by the listeners using that CA.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ballast_config::{AcmeConfig, ListenerName};
use ballast_tls::{load_pair, CertificateInfo};

use crate::AcmeError;

/// The files of one listener's ACME certificate and of its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Storage {
    /// `STORAGE/LISTENER/FIRST-DOMAIN-HASH`: a new domain set gets a new directory, so a
    /// certificate is never served for names it was not issued for.
    pub(crate) dir: PathBuf,
    /// `STORAGE/accounts/HOST-HASH.json`.
    pub(crate) account: PathBuf,
}

/// A certificate read back from storage.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    /// Ready to serve.
    pub(crate) info: CertificateInfo,
    /// When it expires.
    pub(crate) not_after: SystemTime,
}

impl Storage {
    /// The storage of `listener`'s certificate for `config.domains`.
    pub(crate) fn new(listener: &ListenerName, config: &AcmeConfig) -> Self {
        let mut sorted = config.domains.clone();
        sorted.sort();
        let first = config.domains.first().map_or("none", String::as_str);
        let dir = config.storage.join(&*listener.0).join(format!(
            "{first}-{:08x}",
            fnv1a(sorted.join(",").as_bytes()) as u32
        ));
        let host: String = config
            .directory
            .trim_start_matches("https://")
            .split(['/', ':'])
            .next()
            .unwrap_or("acme")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
            .collect();
        let account = config.storage.join("accounts").join(format!(
            "{host}-{:08x}.json",
            fnv1a(config.directory.as_bytes()) as u32
        ));
        Self { dir, account }
    }

    /// The certificate chain file.
    pub(crate) fn cert_file(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    /// The private key file (mode 0600).
    pub(crate) fn key_file(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    /// The stored certificate: `Ok(None)` when there is none yet, an error when the files
    /// are there but do not load (the caller then obtains a new one).
    pub(crate) fn load(&self) -> Result<Option<Stored>, AcmeError> {
        let (cert, key) = (self.cert_file(), self.key_file());
        if !cert.exists() && !key.exists() {
            return Ok(None);
        }
        let provider = rustls::crypto::ring::default_provider();
        let info = load_pair(&cert, &key, &provider)?;
        let not_after = info
            .key
            .cert
            .first()
            .and_then(|leaf| crate::der::not_after(leaf))
            .ok_or_else(|| AcmeError::Expiry { path: cert.clone() })?;
        Ok(Some(Stored { info, not_after }))
    }

    /// Stores a new chain and key, each replaced whole (written beside, then renamed), the
    /// key first: a crash in between leaves a pair that does not match, which is reissued.
    pub(crate) fn save(&self, chain_pem: &str, key_pem: &str) -> Result<(), AcmeError> {
        create_private_dir(&self.dir)?;
        write_private(&self.key_file(), key_pem.as_bytes())?;
        write_private(&self.cert_file(), chain_pem.as_bytes())
    }

    /// The stored account credentials (JSON), if any.
    pub(crate) fn load_account(&self) -> Result<Option<String>, AcmeError> {
        match std::fs::read_to_string(&self.account) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage_error(&self.account, e)),
        }
    }

    /// Stores account credentials (mode 0600: they hold the account's private key).
    pub(crate) fn save_account(&self, json: &str) -> Result<(), AcmeError> {
        if let Some(parent) = self.account.parent() {
            create_private_dir(parent)?;
        }
        write_private(&self.account, json.as_bytes())
    }

    /// Forgets the account (the CA no longer knows it): the next attempt creates one.
    pub(crate) fn forget_account(&self) {
        if let Err(error) = std::fs::remove_file(&self.account) {
            tracing::warn!(path = %self.account.display(), %error, "cannot remove the ACME account file");
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), AcmeError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| storage_error(dir, e))
}

/// Writes `path` whole with mode 0600: into `path.tmp` first, then renamed over it.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), AcmeError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| storage_error(&tmp, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| storage_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| storage_error(path, e))
}

fn storage_error(path: &Path, source: std::io::Error) -> AcmeError {
    AcmeError::Storage {
        path: path.to_owned(),
        source,
    }
}

/// FNV-1a, 64 bits: a name for a domain set or a URL that is stable across Rust releases
/// (the standard hasher is not promised to be).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests;
