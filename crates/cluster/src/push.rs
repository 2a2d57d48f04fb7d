//! `ballast config push` and `ballast config pull`: the shared document written to etcd
//! (with a compare-and-swap on its revision) or read from it, from the command line.

use ballast_config::{ClusterConfig, Document};

use crate::document::{decode, encode, DecodeError};
use crate::etcd::{EtcdError, PutIf};

/// What a push wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The revision the shared document replaced (0: there was none).
    pub replaced: i64,
    /// The new revision, which every node applies.
    pub revision: i64,
}

/// Why a push or pull did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// etcd could not be reached or refused the request.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// The shared document changed since the revision the push was made from.
    #[error("the cluster's configuration is at revision {found}, not {expected}: pull it, change it and push again")]
    Conflict {
        /// The revision the push expected.
        expected: i64,
        /// The revision found.
        found: i64,
    },
    /// What etcd holds is not a document.
    #[error(transparent)]
    Stored(#[from] DecodeError),
}

/// Writes `document`'s shared part as the cluster's configuration, if the stored one is
/// at revision `expected` (`None`: whatever revision is read first, so a change that lands
/// between the read and the write is never overwritten).
pub async fn push(
    config: &ClusterConfig,
    document: &Document,
    expected: Option<i64>,
) -> Result<Pushed, PushError> {
    let etcd = crate::client(config)?;
    let key = config.config_key().into_bytes();
    let expected = match expected {
        Some(revision) => revision,
        None => etcd.get(&key).await?.0.map_or(0, |kv| kv.mod_revision),
    };
    match etcd.put_if(&key, &encode(document), expected).await? {
        PutIf::Written(revision) => Ok(Pushed {
            replaced: expected,
            revision,
        }),
        PutIf::Conflict(now) => Err(PushError::Conflict {
            expected,
            found: now.map_or(0, |kv| kv.mod_revision),
        }),
    }
}

/// The cluster's shared document and its revision; `None` when there is none yet.
pub async fn pull(config: &ClusterConfig) -> Result<Option<(Document, i64)>, PushError> {
    let etcd = crate::client(config)?;
    let (found, _) = etcd.get(config.config_key().as_bytes()).await?;
    match found {
        Some(kv) => Ok(Some((decode(&kv.value)?, kv.mod_revision))),
        None => Ok(None),
    }
}
