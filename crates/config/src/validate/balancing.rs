//! Validation of how a target group balances: `algorithm`, `hash_key`, `slow_start`,
//! `cross_zone`, and each target's `weight` and `zone`.

use std::sync::Arc;
use std::time::Duration;

use crate::defaults::*;
use crate::error::KeyPath;
use crate::model::{Algorithm, HashKey};
use crate::raw::{RawHashKey, RawTarget, RawTargetGroup};

use super::Validator;

/// What balancing validation yields for a group.
pub(super) struct Balancing {
    pub(super) algorithm: Algorithm,
    pub(super) hash_key: Option<HashKey>,
    pub(super) slow_start: Duration,
    pub(super) cross_zone: bool,
    pub(super) anomaly_mitigation: bool,
}

impl Validator {
    /// `l4`: the group is a `tcp`, `udp`, `tcp_udp` or `tls` one (flow hash by default,
    /// and only the algorithms that choose per connection).
    pub(super) fn balancing(
        &mut self,
        path: &KeyPath,
        raw: &RawTargetGroup,
        l4: bool,
    ) -> Balancing {
        let algorithm = match raw.algorithm.as_deref() {
            None if l4 => Algorithm::FlowHash,
            None => Algorithm::RoundRobin,
            Some(name) => match Algorithm::ALL.iter().find(|(_, n)| *n == name) {
                Some((algorithm, _)) => *algorithm,
                None => {
                    let names: Vec<String> = Algorithm::ALL
                        .iter()
                        .map(|(_, n)| format!("\"{n}\""))
                        .collect();
                    self.invalid(
                        path.key("algorithm"),
                        format!("\"{name}\""),
                        format!("one of {}", names.join(", ")),
                    );
                    Algorithm::RoundRobin
                }
            },
        };
        let per_request = matches!(
            algorithm,
            Algorithm::ConsistentHash | Algorithm::LeastResponseTime
        );
        if l4 && per_request {
            self.invalid(
                path.key("algorithm"),
                format!("\"{}\" on an L4 group", algorithm.name()),
                "flow_hash, ip_hash, round_robin, weighted_random, least_connections, least_outstanding_requests or random_two_choices (an L4 group has no header to hash and no response time)",
            );
        } else if !l4 && algorithm == Algorithm::FlowHash {
            self.invalid(
                path.key("algorithm"),
                "\"flow_hash\" on an http group",
                "an L4 group (protocol tcp, udp, tcp_udp or tls); http groups hash with ip_hash or consistent_hash",
            );
        }
        let hash_key = self.hash_key(path, algorithm, raw.hash_key.as_ref());
        let anomaly_mitigation = raw.anomaly_mitigation.unwrap_or(false);
        if anomaly_mitigation && algorithm != Algorithm::WeightedRandom {
            self.invalid(
                path.key("anomaly_mitigation"),
                format!("anomaly_mitigation with algorithm \"{}\"", algorithm.name()),
                "algorithm = \"weighted_random\" (as on ALB)",
            );
        }
        let slow_start = self.slow_start(&path.key("slow_start"), raw.slow_start.as_deref());
        let ramps = matches!(
            algorithm,
            Algorithm::RoundRobin
                | Algorithm::WeightedRandom
                | Algorithm::LeastOutstandingRequests
                | Algorithm::LeastConnections
        );
        if !slow_start.is_zero() && !ramps {
            self.invalid(
                path.key("slow_start"),
                format!("slow_start with algorithm \"{}\"", algorithm.name()),
                "round_robin, weighted_random, least_outstanding_requests or least_connections (the others choose by latency or key, which a ramp cannot scale)",
            );
        }
        Balancing {
            anomaly_mitigation,
            algorithm,
            hash_key,
            slow_start,
            cross_zone: raw.cross_zone.unwrap_or(true),
        }
    }

    fn hash_key(
        &mut self,
        path: &KeyPath,
        algorithm: Algorithm,
        raw: Option<&RawHashKey>,
    ) -> Option<HashKey> {
        let key_path = path.key("hash_key");
        let Some(raw) = raw else {
            if algorithm == Algorithm::ConsistentHash {
                self.invalid(
                    key_path,
                    "no hash_key",
                    "a hash_key such as { header = \"X-User\" }, { cookie = \"session\" } or { query = \"user\" } for consistent_hash",
                );
            }
            return None;
        };
        if algorithm != Algorithm::ConsistentHash {
            self.invalid(
                key_path,
                format!("a hash_key with algorithm \"{}\"", algorithm.name()),
                "algorithm = \"consistent_hash\" (ip_hash always hashes the client address)",
            );
            return None;
        }
        let given: Vec<(&str, &String)> = [
            ("header", raw.header.as_ref()),
            ("cookie", raw.cookie.as_ref()),
            ("query", raw.query.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        let [(kind, name)] = given.as_slice() else {
            self.invalid(
                key_path,
                format!("{} keys", given.len()),
                "exactly one of header, cookie or query",
            );
            return None;
        };
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            self.invalid(
                key_path.key(kind),
                format!("\"{name}\""),
                "a name of letters, digits and !#$%&'*+-.^_`|~",
            );
            return None;
        }
        Some(match *kind {
            "header" => HashKey::Header(name.to_ascii_lowercase()),
            "cookie" => HashKey::Cookie((*name).clone()),
            _ => HashKey::Query((*name).clone()),
        })
    }

    fn slow_start(&mut self, path: &KeyPath, raw: Option<&str>) -> Duration {
        let ramp = self.duration(path, raw, Duration::ZERO);
        if !ramp.is_zero() && !(MIN_SLOW_START..=MAX_SLOW_START).contains(&ramp) {
            self.invalid(
                path.clone(),
                format!("\"{}\"", raw.unwrap_or_default()),
                "\"0s\" (off) or a duration from \"30s\" to \"15m\"",
            );
            return Duration::ZERO;
        }
        ramp
    }

    /// A target's weight (1 to 1000, default 1) and zone.
    pub(super) fn target_weight_and_zone(
        &mut self,
        path: &KeyPath,
        raw: &RawTarget,
    ) -> (u32, Option<Arc<str>>) {
        let weight = self.count(&path.key("weight"), raw.weight, 1, 1..=MAX_TARGET_WEIGHT) as u32;
        (weight, self.zone(&path.key("zone"), raw.zone.as_deref()))
    }

    /// A zone name: 1 to 64 characters among `a-z A-Z 0-9 - _ .`.
    pub(super) fn zone(&mut self, path: &KeyPath, raw: Option<&str>) -> Option<Arc<str>> {
        let zone = raw?;
        let ok = !zone.is_empty()
            && zone.len() <= 64
            && zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            self.invalid(
                path.clone(),
                format!("\"{zone}\""),
                "1 to 64 characters among a-z, A-Z, 0-9, '-', '_' and '.'",
            );
            return None;
        }
        Some(zone.into())
    }
}

#[cfg(test)]
mod tests;
