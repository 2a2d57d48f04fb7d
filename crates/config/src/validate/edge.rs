//! `[ip_sets]` and a listener's `allow`, `deny` and `client_limits`.

use std::collections::BTreeMap;

use super::Validator;
use crate::defaults::{MAX_IP_SETS, MAX_IP_SET_BLOCKS};
use crate::error::KeyPath;
use crate::raw::{RawClientLimits, RawIpSet, RawListener};
use crate::{Cidr, CidrSet, ClientLimits, EdgePolicy, Rate};

impl Validator {
    /// Checks `[ip_sets]` and keeps each set's blocks for the listeners that name it.
    pub(super) fn ip_sets(&mut self, path: &KeyPath, raw: &BTreeMap<String, RawIpSet>) {
        if !self.within(path, raw.len(), MAX_IP_SETS, "IP sets") {
            return;
        }
        for (name, set) in raw {
            let at = path.key(name);
            self.name(&at, name);
            let at = at.key("cidrs");
            if set.cidrs.is_empty() {
                self.invalid(at, "an empty list", "at least one CIDR block");
                continue;
            }
            if !self.within(&at, set.cidrs.len(), MAX_IP_SET_BLOCKS, "blocks") {
                continue;
            }
            let mut blocks = Vec::with_capacity(set.cidrs.len());
            for (i, text) in set.cidrs.iter().enumerate() {
                match Cidr::parse(text) {
                    Ok(block) => blocks.push(block),
                    Err(reason) => self.invalid(
                        at.index(i),
                        format!("\"{text}\""),
                        format!("a CIDR block such as \"10.0.0.0/8\": {reason}"),
                    ),
                }
            }
            self.ip_sets.insert(name.clone(), blocks);
        }
    }

    /// A listener's admission policy.
    pub(super) fn edge(&mut self, path: &KeyPath, raw: &RawListener) -> std::sync::Arc<EdgePolicy> {
        let allow = raw
            .allow
            .as_deref()
            .map(|list| CidrSet::new(&self.blocks(&path.key("allow"), list)));
        let deny = raw
            .deny
            .as_deref()
            .map(|list| CidrSet::new(&self.blocks(&path.key("deny"), list)))
            .unwrap_or_default();
        let udp = self.listener_protocol.is_some_and(|p| p.uses_udp());
        let client_limits = match &raw.client_limits {
            Some(_) if udp => {
                self.invalid(
                    path.key("client_limits"),
                    "client_limits on a listener that takes UDP",
                    "no such key here (it limits TCP connections; a udp listener's flows are bounded by max_udp_flows)",
                );
                ClientLimits::default()
            }
            Some(l) => self.client_limits(&path.key("client_limits"), l),
            None => ClientLimits::default(),
        };
        std::sync::Arc::new(EdgePolicy {
            allow,
            deny,
            client_limits,
        })
    }

    /// The blocks of an `allow` or `deny` list: CIDR blocks and names of IP sets.
    pub(super) fn blocks(&mut self, path: &KeyPath, list: &[String]) -> Vec<Cidr> {
        if list.is_empty() {
            self.invalid(
                path.clone(),
                "an empty list",
                "at least one CIDR block or IP set name (leave the key out to let every address in)",
            );
            return Vec::new();
        }
        let mut blocks = Vec::new();
        let mut named: Vec<&str> = Vec::new();
        for (i, text) in list.iter().enumerate() {
            if let Ok(block) = Cidr::parse(text) {
                blocks.push(block);
            } else if let Some(set) = self.ip_sets.get(text) {
                // Each set once, and the bound checked before the copy it bounds.
                if named.contains(&text.as_str()) {
                    continue;
                }
                named.push(text);
                if blocks.len() + set.len() > MAX_IP_SET_BLOCKS {
                    self.within(path, blocks.len() + set.len(), MAX_IP_SET_BLOCKS, "blocks");
                    return Vec::new();
                }
                blocks.extend_from_slice(set);
            } else {
                self.invalid(
                    path.index(i),
                    format!("\"{text}\""),
                    "a CIDR block such as \"10.0.0.0/8\" or the name of an [ip_sets] entry",
                );
            }
        }
        if blocks.len() > MAX_IP_SET_BLOCKS {
            self.within(path, blocks.len(), MAX_IP_SET_BLOCKS, "blocks");
            return Vec::new();
        }
        blocks
    }

    /// The blocks of a rule's `source_ip` values, each a block or an IP set's name (checked
    /// already), within the same bound as a listener's lists; `ok` turns false past it.
    pub(super) fn source_blocks(
        &mut self,
        path: &KeyPath,
        values: &[String],
        ok: &mut bool,
    ) -> Vec<Cidr> {
        if values.is_empty() {
            return Vec::new();
        }
        let before = self.error_count();
        let blocks = self.blocks(path, values);
        *ok &= self.error_count() == before;
        blocks
    }

    /// A listener's `min_request_body_rate` and its grace; `None` when the rate is 0.
    pub(super) fn min_body_rate(
        &mut self,
        path: &KeyPath,
        raw: &RawListener,
    ) -> Option<crate::MinBodyRate> {
        let bytes_per_second = self.count(
            &path.key("min_request_body_rate"),
            raw.min_request_body_rate,
            crate::defaults::DEFAULT_MIN_REQUEST_BODY_RATE as usize,
            0..=1_000_000_000,
        ) as u32;
        let grace = self.positive_duration(
            &path.key("min_request_body_rate_grace"),
            raw.min_request_body_rate_grace.as_deref(),
            crate::defaults::DEFAULT_MIN_REQUEST_BODY_RATE_GRACE,
        );
        (bytes_per_second > 0).then_some(crate::MinBodyRate {
            bytes_per_second,
            grace,
        })
    }

    /// A listener's `desync_mitigation_mode` (`defensive` when absent, as ALB).
    pub(super) fn desync_mode(&mut self, path: &KeyPath, raw: &RawListener) -> crate::DesyncMode {
        let Some(name) = raw.desync_mitigation_mode.as_deref() else {
            return crate::DesyncMode::default();
        };
        match crate::DesyncMode::ALL.iter().find(|(_, n)| *n == name) {
            Some((mode, _)) => *mode,
            None => {
                self.invalid(
                    path.key("desync_mitigation_mode"),
                    format!("\"{name}\""),
                    "one of \"monitor\", \"defensive\", \"strictest\"",
                );
                crate::DesyncMode::default()
            }
        }
    }

    fn client_limits(&mut self, path: &KeyPath, raw: &RawClientLimits) -> ClientLimits {
        let max_connections = raw.max_connections.map(|_| {
            self.count(
                &path.key("max_connections"),
                raw.max_connections,
                1,
                1..=1_000_000,
            ) as u32
        });
        let connection_rate = match (raw.connections_per_second, raw.connection_burst) {
            (None, None) => None,
            (None, Some(_)) => {
                self.invalid(
                    path.key("connection_burst"),
                    "a burst without a rate",
                    "connections_per_second beside it",
                );
                None
            }
            (Some(_), burst) => {
                let per_second = self.count(
                    &path.key("connections_per_second"),
                    raw.connections_per_second,
                    1,
                    1..=1_000_000,
                ) as u32;
                let burst = self.count(
                    &path.key("connection_burst"),
                    burst,
                    per_second as usize,
                    1..=10_000_000,
                ) as u32;
                Some(Rate { per_second, burst })
            }
        };
        ClientLimits {
            max_connections,
            connection_rate,
        }
    }
}

#[cfg(test)]
mod tests;
