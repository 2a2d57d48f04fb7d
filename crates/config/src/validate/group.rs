//! Validation of a target group (`[target_groups.NAME]`) and its static targets.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::defaults::*;
use crate::error::{ErrorKind, KeyPath};
use crate::model::*;
use crate::raw::RawTargetGroup;
use crate::ProxyProtocolVersion;

use super::Validator;

impl Validator {
    pub(super) fn target_group(
        &mut self,
        path: &KeyPath,
        name: &str,
        raw: &RawTargetGroup,
    ) -> TargetGroupConfig {
        self.name(path, name);
        let written = raw.protocol.as_deref().unwrap_or("http");
        let protocol = TargetProtocol::from_name(written).unwrap_or_else(|| {
            self.invalid(
                path.key("protocol"),
                format!("\"{written}\""),
                crate::l4::PROTOCOL_NAMES,
            );
            TargetProtocol::Http
        });
        let l4 = protocol.is_l4();
        if l4 {
            self.l4_group_keys(path, raw, protocol);
        }
        let protocol_version = match raw.protocol_version.as_deref().unwrap_or("http1") {
            "http1" => ProtocolVersion::Http1,
            "http2" => ProtocolVersion::Http2,
            "grpc" => ProtocolVersion::Grpc,
            other => {
                self.invalid(
                    path.key("protocol_version"),
                    format!("\"{other}\""),
                    "\"http1\", \"http2\" or \"grpc\"",
                );
                ProtocolVersion::Http1
            }
        };
        let tls = match protocol {
            TargetProtocol::Https | TargetProtocol::Tls => {
                Some(self.target_tls(&path.key("tls"), raw.tls.as_ref()))
            }
            _ => {
                if raw.tls.is_some() {
                    self.invalid(
                        path.key("tls"),
                        "tls on a group that is not https or tls",
                        "protocol = \"https\" (or \"tls\" for an L4 group)",
                    );
                }
                None
            }
        };
        let balancing = self.balancing(path, raw, l4);
        let proxy_protocol = self.proxy_protocol_version(path, raw, protocol, protocol_version);
        let mut targets = Vec::with_capacity(raw.targets.len().min(MAX_TARGETS_PER_GROUP));
        let mut seen: HashMap<SocketAddr, KeyPath> = HashMap::new();
        let listed = &raw.targets;
        let within = self.within(
            &path.key("targets"),
            listed.len(),
            MAX_TARGETS_PER_GROUP,
            "targets",
        );
        for (i, target) in listed.iter().enumerate().take_while(|_| within) {
            let target_path = path.key("targets").index(i);
            let (weight, zone) = self.target_weight_and_zone(&target_path, target);
            if let Some(address) = self.socket_addr(&target_path, &target.address) {
                if let Some(other) = seen.get(&address) {
                    self.error(
                        target_path,
                        ErrorKind::Conflict {
                            what: format!("target {address}"),
                            other: other.to_string(),
                        },
                    );
                } else {
                    seen.insert(address, target_path);
                    targets.push(TargetConfig {
                        address,
                        weight,
                        zone,
                    });
                }
            }
        }
        TargetGroupConfig {
            name: GroupName::from(name),
            protocol,
            protocol_version,
            tls,
            algorithm: balancing.algorithm,
            hash_key: balancing.hash_key,
            slow_start: balancing.slow_start,
            cross_zone: balancing.cross_zone,
            anomaly_mitigation: balancing.anomaly_mitigation,
            stickiness: raw
                .stickiness
                .as_ref()
                .and_then(|s| self.stickiness(&path.key("stickiness"), s)),
            targets,
            connect_timeout: self.positive_duration(
                &path.key("connect_timeout"),
                raw.connect_timeout.as_deref(),
                DEFAULT_CONNECT_TIMEOUT,
            ),
            response_timeout: self.positive_duration(
                &path.key("response_timeout"),
                raw.response_timeout.as_deref(),
                DEFAULT_RESPONSE_TIMEOUT,
            ),
            target_idle_timeout: self.positive_duration(
                &path.key("target_idle_timeout"),
                raw.target_idle_timeout.as_deref(),
                DEFAULT_TARGET_IDLE_TIMEOUT,
            ),
            max_idle_per_target: self.count(
                &path.key("max_idle_per_target"),
                raw.max_idle_per_target,
                DEFAULT_MAX_IDLE_PER_TARGET,
                0..=65_536,
            ),
            health_check: raw.health_check.as_ref().and_then(|h| {
                // A gRPC group's checks ask the standard health service unless told.
                let default = match protocol_version {
                    _ if l4 => "tcp",
                    ProtocolVersion::Grpc => "grpc",
                    _ => "http",
                };
                self.health_check(&path.key("health_check"), h, default)
            }),
            outlier_detection: self.outlier_detection(
                &path.key("outlier_detection"),
                raw.outlier_detection.as_ref(),
            ),
            deregistration_delay: self.deregistration_delay(
                &path.key("deregistration_delay"),
                raw.deregistration_delay.as_deref(),
            ),
            fail_open: raw.fail_open.unwrap_or(true),
            retry: self.retry(&path.key("retry"), raw.retry.as_ref()),
            proxy_protocol,
        }
    }
}

impl Validator {
    /// `proxy_protocol = "v1" | "v2"` of a group: `tcp`, `tls` and HTTP/1.1 `http`/`https`
    /// groups (UDP has no connection to open with it; an HTTP/2 group's one connection per
    /// worker carries the requests of many clients, so no one header can name them).
    pub(super) fn proxy_protocol_version(
        &mut self,
        path: &KeyPath,
        raw: &RawTargetGroup,
        protocol: TargetProtocol,
        version: crate::ProtocolVersion,
    ) -> Option<ProxyProtocolVersion> {
        let proxy = match raw.proxy_protocol.as_deref()? {
            "v1" => ProxyProtocolVersion::V1,
            "v2" => ProxyProtocolVersion::V2,
            other => {
                self.invalid(
                    path.key("proxy_protocol"),
                    format!("\"{other}\""),
                    "\"v1\" or \"v2\"",
                );
                return None;
            }
        };
        let refused = match protocol {
            TargetProtocol::Tcp | TargetProtocol::Tls => None,
            TargetProtocol::Http | TargetProtocol::Https => match version {
                crate::ProtocolVersion::Http1 => None,
                crate::ProtocolVersion::Http2 => {
                    Some("proxy_protocol on a group with protocol_version = \"http2\"".to_owned())
                }
                crate::ProtocolVersion::Grpc => {
                    Some("proxy_protocol on a group with protocol_version = \"grpc\"".to_owned())
                }
            },
            TargetProtocol::Udp | TargetProtocol::TcpUdp => {
                Some(format!("proxy_protocol on a {} group", protocol.name()))
            }
        };
        if let Some(refused) = refused {
            self.invalid(
                path.key("proxy_protocol"),
                refused,
                "a tcp or tls group, or an http or https group with protocol_version = \"http1\" (UDP has no connection to open with it; an HTTP/2 connection carries many clients' requests)",
            );
            return None;
        }
        Some(proxy)
    }
}
