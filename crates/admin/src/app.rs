//! What every handler shares.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use ballast_runtime::Runtime;

use crate::dashboard::store::Stats;

/// The admin listener's state: the runtime it drives and what its handlers keep.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) token: Option<String>,
    /// Serialises read-modify-write changes of the config document, so two concurrent
    /// partial changes cannot lose one another.
    pub(crate) edits: tokio::sync::Mutex<()>,
    pub(crate) dashboard: Stats,
    /// Dashboard event streams open now (bounded: each one does work every second).
    pub(crate) streams: AtomicUsize,
}

impl App {
    /// The state of an admin listener driving `runtime`, guarded by `token` when given.
    pub(crate) fn new(runtime: Arc<Runtime>, token: Option<String>) -> Self {
        Self {
            runtime,
            token,
            edits: tokio::sync::Mutex::new(()),
            dashboard: Stats::default(),
            streams: AtomicUsize::new(0),
        }
    }
}
