//! The ACME tasks of the running configuration: one per `https` listener with `tls.acme`,
//! on the control runtime, restarted when its settings or its listener's resolver change.

use std::collections::HashMap;
use std::sync::Arc;

use ballast_config::{AcmeConfig, Config, ListenerName};
use ballast_tls::SniResolver;
use tokio::task::AbortHandle;

use crate::tls::TlsState;

/// Running ACME tasks by listener.
pub(crate) type AcmeTasks = HashMap<ListenerName, AcmeTask>;

/// One listener's ACME task and what it was started with.
#[derive(Debug)]
pub(crate) struct AcmeTask {
    config: AcmeConfig,
    resolver: Arc<SniResolver>,
    task: AbortHandle,
    /// What the task reports.
    pub(crate) status: ballast_acme::SharedAcmeStatus,
}

/// Starts the tasks `config` asks for and stops the others.
pub(crate) fn reconcile(
    tasks: &mut AcmeTasks,
    config: &Config,
    tls: &TlsState,
    runtime: &tokio::runtime::Handle,
) {
    let mut wanted = HashMap::new();
    for listener in &config.listeners {
        let acme = listener.tls.as_ref().and_then(|t| t.acme.as_ref());
        if let (Some(acme), Some(resolver)) = (acme, tls.resolver(&listener.name)) {
            wanted.insert(listener.name.clone(), (acme.clone(), resolver));
        }
    }
    tasks.retain(|name, task| {
        let keep = wanted
            .get(name)
            .is_some_and(|(c, r)| *c == task.config && Arc::ptr_eq(r, &task.resolver));
        if !keep {
            task.task.abort();
        }
        keep
    });
    for (name, (acme, resolver)) in wanted {
        if tasks.contains_key(&name) {
            continue;
        }
        let status = ballast_acme::SharedAcmeStatus::default();
        let task = runtime.spawn(ballast_acme::run(
            name.clone(),
            acme.clone(),
            Arc::clone(&resolver),
            tls.challenges(),
            Arc::clone(&status),
        ));
        let task = AcmeTask {
            config: acme,
            resolver,
            task: task.abort_handle(),
            status,
        };
        tasks.insert(name, task);
    }
}

/// Stops every ACME task (shutdown).
pub(crate) fn stop(tasks: &mut AcmeTasks) {
    for (_, task) in tasks.drain() {
        task.task.abort();
    }
}
