//! A small etcd v3 client over etcd's JSON gateway (`/v3/...` on the client URL): the
//! key-value calls, compare-and-swap, leases and watches the cluster module needs.
//!
//! Keys and values are raw bytes. Requests go to the endpoints in turn, starting with
//! the one that last answered; with a user name, the client authenticates first and
//! again once when etcd says its token is no longer valid (tokens expire, and a simple
//! token is only known to the member that issued it).

mod conn;
mod ops;
mod watch;
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_wire;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use watch::Watch;

/// Where etcd is and how to talk to it.
#[derive(Clone)]
pub struct EtcdOptions {
    /// Client URLs: `http://host:port` or `https://host:port` (port 2379 when absent).
    pub endpoints: Vec<String>,
    /// With `password`: authenticate as this user.
    pub username: Option<String>,
    /// The user's password (with `username`).
    pub password: Option<String>,
    /// The CA (PEM) that signs the members' certificates; required for https.
    pub ca: Option<PathBuf>,
    /// A client certificate (PEM chain), with `key`.
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM), with `cert`.
    pub key: Option<PathBuf>,
    /// The bound of each request to one endpoint (connect and whole answer); a watch is
    /// bounded by it only until etcd confirms it.
    pub timeout: Duration,
}

// By hand: the password is never printed.
impl std::fmt::Debug for EtcdOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdOptions")
            .field("endpoints", &self.endpoints)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca", &self.ca)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for EtcdOptions {
    fn default() -> EtcdOptions {
        EtcdOptions {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            username: None,
            password: None,
            ca: None,
            cert: None,
            key: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// A key and its value as etcd holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// The revision that created the key (since its last deletion).
    pub create_revision: i64,
    /// The revision of the key's last write.
    pub mod_revision: i64,
    /// The lease the key is attached to; 0 for none.
    pub lease: i64,
}

/// A change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The key was written; its new state.
    Put(KeyValue),
    /// The key was deleted, at `mod_revision`.
    Delete {
        /// The key.
        key: Vec<u8>,
        /// The revision of the deletion.
        mod_revision: i64,
    },
}

/// What a conditional write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutIf {
    /// Written, at this revision.
    Written(i64),
    /// Not written: the key had another revision. What is there now (`None`: no key).
    Conflict(Option<KeyValue>),
}

/// What can go wrong talking to etcd.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint could be reached or answered in time; the last failure.
    #[error("etcd unreachable: {0}")]
    Unreachable(String),
    /// etcd answered with an error.
    #[error("etcd answered {status} (code {code}): {message}")]
    Status {
        /// The HTTP status; 0 for an error inside a stream that said none.
        status: u16,
        /// The gRPC status code (3 invalid argument, 5 not found, 16 unauthenticated…).
        code: i64,
        /// etcd's message.
        message: String,
    },
    /// An answer that could not be understood.
    #[error("malformed etcd answer: {0}")]
    Malformed(String),
    /// A watch's start revision has been compacted away; watch from after this revision
    /// (after reading the current state).
    #[error("etcd revision compacted (compact revision {0})")]
    Compacted(i64),
    /// etcd cancelled a watch, for this reason.
    #[error("etcd cancelled the watch: {0}")]
    Canceled(String),
    /// A watch's stream broke after it was established.
    #[error("etcd watch broken: {0}")]
    Broken(String),
    /// The options cannot work: a bad endpoint URL, unreadable TLS files.
    #[error("etcd configuration: {0}")]
    Config(String),
}

/// A client of one etcd cluster. Cheap to clone; clones share the endpoint state and
/// the authentication token.
#[derive(Clone)]
pub struct Etcd {
    inner: Arc<Inner>,
}

struct Inner {
    transport: conn::Transport,
    credentials: Option<(String, String)>,
    token: Mutex<Option<String>>,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

impl Etcd {
    /// Checks the endpoints and loads the TLS files; no I/O to etcd yet.
    pub fn new(options: EtcdOptions) -> Result<Etcd, EtcdError> {
        let credentials = match (&options.username, &options.password) {
            (None, None) => None,
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            _ => {
                return Err(EtcdError::Config(
                    "an etcd user needs both username and password".into(),
                ))
            }
        };
        Ok(Etcd {
            inner: Arc::new(Inner {
                transport: conn::Transport::new(&options)?,
                credentials,
                token: Mutex::new(None),
            }),
        })
    }

    /// The endpoint that last answered (the first one before any request).
    pub fn endpoint(&self) -> String {
        self.inner.transport.endpoint()
    }

    /// POSTs `request` as JSON and reads the answer, authenticating again once if etcd
    /// says the token is not (or no longer) valid.
    async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        request: &Q,
    ) -> Result<A, EtcdError> {
        let body = Bytes::from(encode(request)?);
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let (status, answer) = self
                .inner
                .transport
                .unary(path, body.clone(), token.as_deref())
                .await?;
            if status == StatusCode::OK {
                return serde_json::from_slice(&answer)
                    .map_err(|e| EtcdError::Malformed(format!("{path}: {e}")));
            }
            let error = status_error(status, &answer);
            if retried || !self.is_auth_error(&error) {
                return Err(error);
            }
            retried = true;
            self.forget_token();
        }
    }

    /// Whether `error` says the token is invalid, and authenticating again may help.
    fn is_auth_error(&self, error: &EtcdError) -> bool {
        // "auth token": one etcd does not know (expired, or from another member); "user
        // name is empty": none was sent, as etcd had no authentication when this client
        // started.
        let token_problem = |m: &str| m.contains("auth token") || m.contains("user name is empty");
        self.inner.credentials.is_some()
            && match error {
                EtcdError::Status {
                    status, message, ..
                } => *status == 401 || token_problem(message),
                EtcdError::Canceled(reason) => token_problem(reason),
                _ => false,
            }
    }

    fn forget_token(&self) {
        *self
            .inner
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The token to send: none without credentials, else the current one, after
    /// authenticating if there is none.
    async fn token(&self) -> Result<Option<String>, EtcdError> {
        let Some((name, password)) = &self.inner.credentials else {
            return Ok(None);
        };
        let known = self
            .inner
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(token) = known {
            // Empty: authentication is off in etcd, so requests go without a token.
            return Ok(Some(token).filter(|t| !t.is_empty()));
        }
        let request = wire::AuthenticateRequest { name, password };
        let body = Bytes::from(encode(&request)?);
        let (status, answer) = self
            .inner
            .transport
            .unary("/v3/auth/authenticate", body, None)
            .await?;
        if status != StatusCode::OK {
            let error = status_error(status, &answer);
            return match error {
                EtcdError::Status { ref message, .. }
                    if message.contains("authentication is not enabled") =>
                {
                    *self
                        .inner
                        .token
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(String::new());
                    Ok(None)
                }
                error => Err(error),
            };
        }
        let answer: wire::AuthenticateResponse = serde_json::from_slice(&answer)
            .map_err(|e| EtcdError::Malformed(format!("authenticate: {e}")))?;
        *self
            .inner
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(answer.token.clone());
        Ok(Some(answer.token).filter(|t| !t.is_empty()))
    }
}

fn encode<T: Serialize>(request: &T) -> Result<Vec<u8>, EtcdError> {
    serde_json::to_vec(request)
        .map_err(|e| EtcdError::Malformed(format!("encoding a request: {e}")))
}

/// The error an answer with a status other than 200 stands for.
fn status_error(status: StatusCode, answer: &[u8]) -> EtcdError {
    let body: wire::ErrorBody = serde_json::from_slice(answer).unwrap_or_default();
    let code = body.grpc_code();
    let message = if body.message.is_empty() {
        String::from_utf8_lossy(answer.get(..200).unwrap_or(answer)).into_owned()
    } else {
        body.message
    };
    EtcdError::Status {
        status: status.as_u16(),
        code,
        message,
    }
}
