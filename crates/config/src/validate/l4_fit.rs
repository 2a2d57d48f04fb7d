//! What keeps HTTP and L4 apart: a listener forwards only to groups it can carry, and each
//! kind of listener refuses the other kind's keys.

use crate::error::KeyPath;
use crate::model::TargetProtocol;
use crate::raw::{RawAction, RawListener};

use super::Validator;

impl Validator {
    /// Reports a forward from the listener being checked to a group whose protocol it cannot
    /// carry (an `http` listener to a `tcp` group, a `udp` one to a `tcp` group, …).
    pub(super) fn group_fits_listener(&mut self, path: &KeyPath, group: &str) {
        let Some(listener) = self.listener_protocol else {
            return;
        };
        let written = self.group_protocols.get(group).map_or("", String::as_str);
        let written = if written.is_empty() { "http" } else { written };
        // The group's own check reports an unknown protocol.
        let Some(protocol) = TargetProtocol::from_name(written) else {
            return;
        };
        if !listener.carries(protocol) {
            self.invalid(
                path.clone(),
                format!(
                    "group \"{group}\" (protocol {}) behind a {} listener",
                    protocol.name(),
                    listener.name()
                ),
                format!("a group with protocol {}", listener.carried_names()),
            );
        }
    }

    /// Refuses on an HTTP listener the keys and actions that only L4 listeners have.
    pub(super) fn http_listener_keys(&mut self, path: &KeyPath, raw: &RawListener) {
        let l4_only = [
            ("udp_idle_timeout", raw.udp_idle_timeout.is_some()),
            ("client_hello_timeout", raw.client_hello_timeout.is_some()),
            ("max_udp_flows", raw.max_udp_flows.is_some()),
        ];
        for (key, present) in l4_only {
            if present {
                self.invalid(
                    path.key(key),
                    format!("{key} on an http listener"),
                    "a tcp, udp, tcp_udp or tls listener",
                );
            }
        }
        self.no_reject(&path.key("default_action"), &raw.default_action);
        for (i, rule) in raw.rules.iter().enumerate() {
            let at = path.key("rules").index(i);
            self.no_reject(&at.key("action"), &rule.action);
            for (key, present) in [
                ("sni", rule.conditions.sni.is_some()),
                ("alpn", rule.conditions.alpn.is_some()),
            ] {
                if present {
                    self.invalid(
                        at.key("conditions").key(key),
                        format!("a {key} condition on an http listener"),
                        "a tcp or tls listener (HTTP rules match the host with host = [...])",
                    );
                }
            }
        }
    }

    fn no_reject(&mut self, path: &KeyPath, action: &RawAction) {
        if action.reject.is_some() {
            self.invalid(
                path.key("reject"),
                "reject on an http listener",
                "a tcp or tls listener (an http listener answers, e.g. fixed_response = { status = 403 })",
            );
        }
    }
}
