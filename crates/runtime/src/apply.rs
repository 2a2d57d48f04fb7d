//! Applying a new configuration to the running proxy: listeners bound and retired, targets
//! drained, one snapshot published.

use std::time::Instant;

use ballast_config::Config;

use crate::control::ControlState;
use crate::error::RuntimeError;
use crate::telemetry::Telemetry;
use crate::{listeners, tls, Runtime};

impl Runtime {
    /// Applies a new configuration: targets, groups, rules, timeouts and actions switch
    /// atomically for new requests; requests in flight finish on the old snapshot. Live
    /// target state and connection pools carry over, and targets the new configuration drops
    /// are drained as if deregistered. New listeners are bound (a failure refuses the whole
    /// change before anything moved); removed ones stop accepting and close their
    /// connections gracefully; the others, and their connections, are untouched.
    pub fn apply(&self, mut config: Config) -> Result<(), RuntimeError> {
        let mut state = self.control.lock();
        let (removed, added) = listeners::diff(&state.listeners, &config);
        // Everything that can fail happens before anything changes: new sockets, certificates
        // and the access log output.
        let bound = added
            .iter()
            .map(|l| listeners::bind(l, self.control.workers).map(|b| (l.bind, b)))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = tls::TlsState::prepare(&config, &state.tls)?;
        let telemetry = Telemetry::prepare(&config, &state.telemetry)?;
        self.control.dns.sync_server(&config)?;
        state.tls = tls;
        state.telemetry = telemetry;
        keep_registered(&mut state, &mut config);
        let now = Instant::now();
        let mut leaving = Vec::new();
        for old in &state.config.target_groups {
            let new = config.target_group(&old.name);
            for target in &old.targets {
                let kept =
                    new.is_some_and(|g| g.targets.iter().any(|t| t.address == target.address));
                if !kept {
                    let delay = new.map_or(old.deregistration_delay, |g| g.deregistration_delay);
                    leaving.push((old.name.clone(), target.address, now + delay));
                }
            }
        }
        for (group, address, until) in leaving {
            self.start_draining(&mut state, &group, address, until);
        }
        state.draining.retain(|d| {
            !config
                .target_group(&d.group)
                .is_some_and(|g| g.targets.iter().any(|t| t.address == d.address))
        });
        // Removed listeners stop first: their connections finish what they are doing on the
        // snapshot they already hold and close.
        let until = Instant::now() + state.config.server.drain_timeout;
        for name in &removed {
            let gone = config.listeners.iter().all(|l| &l.name != name);
            if let Some(old) = state.config.listeners.iter().find(|l| &l.name == name) {
                if gone {
                    let old = old.clone();
                    state.retired.push((old, until));
                }
            }
            if let Some(i) = state.listeners.iter().position(|l| &l.name == name) {
                let listener = state.listeners.remove(i);
                listener.stop.cancel();
                tracing::info!(listener = %listener.name, addr = %listener.address, "listener removed: no new connections, open ones close gracefully");
            }
        }
        state
            .retired
            .retain(|(l, _)| config.listeners.iter().all(|n| n.name != l.name));
        // Kept listeners take the new `defer_accept` (their sockets are the running ones).
        for running in &state.listeners {
            let new = config.listeners.iter().find(|l| l.name == running.name);
            let old = state
                .config
                .listeners
                .iter()
                .find(|l| l.name == running.name);
            if let (Some(new), Some(old)) = (new, old) {
                if new.defer_accept != old.defer_accept {
                    listeners::set_defer_accept(&running.name, &running.sockets, new.defer_accept);
                }
            }
        }
        state.config = config;
        self.control.publish(&mut state);
        for (requested, listener) in bound {
            self.start_listener(&mut state, requested, listener);
        }
        Ok(())
    }
}

/// Puts the targets registered through the API (not in any file) into a configuration
/// that is about to replace the running one, so a reload does not drain them. Those whose
/// group is gone are forgotten.
fn keep_registered(state: &mut ControlState, config: &mut Config) {
    state.registered.retain(|(name, target)| {
        let Some(group) = config.target_groups.iter_mut().find(|g| &g.name == name) else {
            return false;
        };
        if !group.targets.iter().any(|t| t.address == target.address) {
            group.targets.push(target.clone());
        }
        true
    });
}
