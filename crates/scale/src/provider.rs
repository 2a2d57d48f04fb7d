//! Providers launch and terminate a scaling group's instances. The scaler decides how many;
//! a provider only knows how to make one exist or stop existing, so another kind (a
//! Kubernetes deployment, a Nomad job, a cloud's API) is one more implementation of
//! [`Provider`], with no change to the policies.
//!
//! Two come with Ballast: `ProcessProvider` (local processes Ballast starts itself, for
//! `ballast demo` and single hosts) and `CommandProvider` (user scripts, so any CLI or
//! orchestrator can be driven).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

/// A boxed future, so providers can be held as `Box<dyn Provider>`.
pub type ProviderFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An instance as its provider knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    /// The provider's id for it (a process id, a cloud instance id).
    pub id: String,
    /// Where it serves: registered as a target of the group's target group.
    pub address: SocketAddr,
    /// Its zone, when the provider placed it in one.
    pub zone: Option<String>,
}

/// Why a provider could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No port left in the process provider's range.
    #[error("no free port in {0}")]
    NoPort(String),
    /// Starting or running a command failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A script ran and failed, or printed what could not be read.
    #[error("{0}")]
    Script(String),
    /// A script took longer than its timeout.
    #[error("{0} took longer than its timeout")]
    Timeout(String),
}

/// Makes instances exist and stop existing.
pub trait Provider: Send {
    /// Launches one instance in `zone` (or none), named `name`.
    fn launch<'a>(
        &'a mut self,
        name: &'a str,
        zone: Option<&'a str>,
    ) -> ProviderFuture<'a, Result<Launched, ProviderError>>;

    /// Terminates the instance `id`; done when it no longer runs.
    fn terminate<'a>(&'a mut self, id: &'a str) -> ProviderFuture<'a, Result<(), ProviderError>>;

    /// The instances running now, so a restarted Ballast finds them instead of launching
    /// more. Providers that cannot tell answer `Ok(None)`.
    fn list(&mut self) -> ProviderFuture<'_, Result<Option<Vec<Launched>>, ProviderError>>;

    /// Instances that stopped on their own since the last call (a process that exited),
    /// by id: they are replaced.
    fn exited(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// The CPU use of instance `id` since the last call, in percent of one core, when the
    /// provider can see it.
    fn cpu(&mut self, _id: &str) -> Option<f64> {
        None
    }
}
