//! Validation of `[cluster]`.

use super::Validator;
use crate::cluster::ClusterConfig;
use crate::defaults::{DEFAULT_CLUSTER_LEASE_TTL, DEFAULT_CLUSTER_PREFIX, DEFAULT_CLUSTER_TIMEOUT};
use crate::error::KeyPath;
use crate::raw::RawCluster;
use crate::secret::Secret;

/// Most etcd endpoints: a cluster has a handful of members.
const MAX_ETCD_ENDPOINTS: usize = 16;
/// Longest node name and key prefix.
const MAX_CLUSTER_NAME_BYTES: usize = 128;

impl Validator {
    pub(super) fn cluster(
        &mut self,
        path: &KeyPath,
        raw: Option<RawCluster>,
    ) -> Option<ClusterConfig> {
        let raw = raw?;
        let etcd = self.etcd_endpoints(&path.key("etcd"), raw.etcd.unwrap_or_default());
        let prefix = match raw.prefix {
            None => DEFAULT_CLUSTER_PREFIX.to_owned(),
            Some(p) if usable(&p) => {
                if p.ends_with('/') {
                    p
                } else {
                    format!("{p}/")
                }
            }
            Some(p) => {
                self.invalid(path.key("prefix"), format!("\"{p}\""), format!("1 to {MAX_CLUSTER_NAME_BYTES} printable characters without spaces, such as \"/ballast/\""));
                DEFAULT_CLUSTER_PREFIX.to_owned()
            }
        };
        let node_name = match raw.node_name {
            None => host_name(),
            Some(name) if usable(&name) && !name.contains('/') => name,
            Some(name) => {
                self.invalid(
                    path.key("node_name"),
                    format!("\"{name}\""),
                    format!(
                        "1 to {MAX_CLUSTER_NAME_BYTES} printable characters without spaces or '/'"
                    ),
                );
                host_name()
            }
        };
        let advertise = raw.advertise.and_then(|a| match a.parse::<std::net::IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => Some(ip),
            _ => {
                self.invalid(
                    path.key("advertise"),
                    format!("\"{a}\""),
                    "an IP address clients reach this node on, such as \"203.0.113.10\" (not a wildcard)",
                );
                None
            }
        });
        let credentials = match (raw.username, raw.password) {
            (Some(user), Some(password)) => Some((user, Secret::new(password))),
            (None, None) => None,
            (Some(_), None) => {
                self.missing_pair(path, "password", "username");
                None
            }
            (None, Some(_)) => {
                self.missing_pair(path, "username", "password");
                None
            }
        };
        let client_cert = match (raw.cert, raw.key) {
            (Some(cert), Some(key)) => Some((cert.into(), key.into())),
            (None, None) => None,
            (Some(_), None) => {
                self.missing_pair(path, "key", "cert");
                None
            }
            (None, Some(_)) => {
                self.missing_pair(path, "cert", "key");
                None
            }
        };
        if raw.ca.is_none() && etcd.iter().any(|url| url.starts_with("https://")) {
            self.invalid(
                path.key("ca"),
                "no ca with an https:// etcd endpoint",
                "the PEM file of the certificate authority that signed etcd's certificate",
            );
        }
        let lease_ttl = self.positive_duration(
            &path.key("lease_ttl"),
            raw.lease_ttl.as_deref(),
            DEFAULT_CLUSTER_LEASE_TTL,
        );
        if !(2..=300).contains(&lease_ttl.as_secs()) {
            self.invalid(
                path.key("lease_ttl"),
                format!("{lease_ttl:?}"),
                "from \"2s\" to \"300s\"",
            );
        }
        let timeout = self.positive_duration(
            &path.key("timeout"),
            raw.timeout.as_deref(),
            DEFAULT_CLUSTER_TIMEOUT,
        );
        Some(ClusterConfig {
            etcd,
            prefix,
            node_name,
            advertise,
            credentials,
            ca: raw.ca.map(Into::into),
            client_cert,
            lease_ttl,
            timeout,
        })
    }

    /// In a cluster, a scaling group's instances must outlive the node that launched them,
    /// and another node must find them: a `command` provider with a `list` script.
    pub(super) fn scaling_in_cluster(
        &mut self,
        at: &KeyPath,
        groups: &[crate::ScalingGroupConfig],
        clustered: bool,
    ) {
        if !clustered {
            return;
        }
        for group in groups {
            let found = match &group.provider {
                crate::ProviderConfig::Process { .. } => "a process provider in a cluster",
                crate::ProviderConfig::Command { list: None, .. } => {
                    "a command provider without list in a cluster"
                }
                crate::ProviderConfig::Command { .. } => continue,
            };
            self.invalid(
                at.key(&group.name).key("provider"),
                found,
                "a command provider with a list script: one node runs the groups, and the node that takes over from it finds the instances through list (a process provider's instances are the node's own processes)",
            );
        }
    }

    fn etcd_endpoints(&mut self, path: &KeyPath, urls: Vec<String>) -> Vec<String> {
        if urls.is_empty() {
            self.invalid(
                path.clone(),
                "no etcd endpoint",
                "at least one etcd client URL, such as [\"http://127.0.0.1:2379\"]",
            );
            return urls;
        }
        if !self.within(path, urls.len(), MAX_ETCD_ENDPOINTS, "etcd endpoints") {
            return Vec::new();
        }
        let mut good = Vec::with_capacity(urls.len());
        for (i, url) in urls.into_iter().enumerate() {
            if endpoint_ok(&url) {
                good.push(url.trim_end_matches('/').to_owned());
            } else {
                self.invalid(
                    path.index(i),
                    format!("\"{}\"", crate::error::shorten_str(&url)),
                    "an etcd client URL: http:// or https://, a host and a port, no path (\"http://127.0.0.1:2379\")",
                );
            }
        }
        good
    }

    fn missing_pair(&mut self, path: &KeyPath, missing: &str, given: &str) {
        self.invalid(
            path.key(missing),
            format!("{given} without {missing}"),
            format!("both {given} and {missing}, or neither"),
        );
    }
}

/// A prefix or node name: printable, no spaces, not too long.
fn usable(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_CLUSTER_NAME_BYTES
        && text.bytes().all(|b| b.is_ascii_graphic())
}

/// `http://host:port` or `https://host:port`, with nothing after the port but a `/`.
fn endpoint_ok(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let Some(authority) = rest.map(|r| r.trim_end_matches('/')) else {
        return false;
    };
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'@')
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// The machine's host name (what a node is called when `node_name` is not given).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| usable(h))
        .unwrap_or_else(|| "ballast".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The errors of a file with this `[cluster]` table, as `path: message` lines.
    fn errors(table: &str) -> Vec<String> {
        let text = format!("[cluster]\n{table}");
        match crate::Document::from_toml(&text).and_then(|d| d.validate()) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_cluster_table_is_read_with_its_defaults() {
        let text = "[cluster]\netcd = [\"http://127.0.0.1:2379/\"]\nprefix = \"/shop\"\nnode_name = \"a\"\n";
        let config = crate::Document::from_toml(text)
            .unwrap()
            .validate()
            .unwrap();
        let cluster = config.cluster.unwrap();
        assert_eq!(cluster.etcd, ["http://127.0.0.1:2379"]);
        assert_eq!(cluster.config_key(), "/shop/config");
        assert_eq!(cluster.nodes_prefix(), "/shop/nodes/");
        assert_eq!(cluster.lease_ttl, DEFAULT_CLUSTER_LEASE_TTL);
        assert_eq!(cluster.timeout, DEFAULT_CLUSTER_TIMEOUT);
        assert!(cluster.credentials.is_none() && cluster.client_cert.is_none());
    }

    #[test]
    fn every_mistake_names_its_key() {
        let cases = [
            ("", "cluster.etcd"),
            ("etcd = [\"127.0.0.1:2379\"]", "cluster.etcd[0]"),
            ("etcd = [\"https://e:2379\"]", "cluster.ca"),
            (
                "etcd = [\"http://e:2379\"]\nusername = \"u\"",
                "cluster.password",
            ),
            (
                "etcd = [\"http://e:2379\"]\npassword = \"p\"",
                "cluster.username",
            ),
            (
                "etcd = [\"http://e:2379\"]\ncert = \"c.pem\"",
                "cluster.key",
            ),
            (
                "etcd = [\"http://e:2379\"]\nlease_ttl = \"1s\"",
                "cluster.lease_ttl",
            ),
            (
                "etcd = [\"http://e:2379\"]\ntimeout = \"0s\"",
                "cluster.timeout",
            ),
            (
                "etcd = [\"http://e:2379\"]\nnode_name = \"a/b\"",
                "cluster.node_name",
            ),
            (
                "etcd = [\"http://e:2379\"]\nprefix = \"a b\"",
                "cluster.prefix",
            ),
            ("etcd = [\"http://e:2379\"]\nport = 1", "cluster"),
            (
                "etcd = [\"http://e:2379\"]\nadvertise = \"0.0.0.0\"",
                "cluster.advertise",
            ),
        ];
        for (table, key) in cases {
            let errors = errors(table);
            assert_eq!(errors.len(), 1, "{table}: {errors:?}");
            assert!(errors[0].starts_with(key), "{table}: {errors:?}");
        }
        let password = "etcd = [\"http://e:2379\"]\nusername = \"u\"\npassword = \"secret-pw\"";
        assert!(errors(password).is_empty());
    }

    #[test]
    fn a_dns_alias_to_the_cluster_needs_a_cluster() {
        let dns = "[dns]\nbind = \"127.0.0.1:5353\"\n[dns.zones.\"t.\"]\nns = [\"ns1\"]\nrecords = [{ name = \"lb\", type = \"A\", alias = { cluster = true } }]\n";
        let alone = crate::Document::from_toml(dns)
            .unwrap()
            .validate()
            .unwrap_err();
        let errors: Vec<String> = alone.errors().iter().map(ToString::to_string).collect();
        assert!(errors[0].starts_with("dns.zones"), "{errors:?}");
        assert!(errors[0].contains("alias.cluster"), "{errors:?}");
        let clustered =
            format!("{dns}[cluster]\netcd = [\"http://e:2379\"]\nadvertise = \"192.0.2.7\"\n");
        let config = crate::Document::from_toml(&clustered)
            .unwrap()
            .validate()
            .unwrap();
        let advertise = config.cluster.unwrap().advertise;
        assert_eq!(advertise, Some("192.0.2.7".parse().unwrap()));
    }

    #[test]
    fn in_a_cluster_scaling_groups_need_a_command_provider_with_list() {
        let group = |provider: &str| {
            format!("[target_groups.app]\ntargets = []\n[scaling_groups.app]\ntarget_group = \"app\"\nmin = 0\nmax = 2\nprovider = {provider}\n[cluster]\netcd = [\"http://e:2379\"]\n")
        };
        for provider in [
            "{ process = { command = \"x {port}\", ports = \"9100-9199\" } }",
            "{ command = { launch = \"l\", terminate = \"t\" } }",
        ] {
            let errors = crate::Document::from_toml(&group(provider))
                .unwrap()
                .validate()
                .unwrap_err();
            let first = errors.errors()[0].to_string();
            assert!(first.starts_with("scaling_groups.app.provider"), "{first}");
        }
        let listed = "{ command = { launch = \"l\", terminate = \"t\", list = \"s\" } }";
        assert!(crate::Document::from_toml(&group(listed))
            .unwrap()
            .validate()
            .is_ok());
    }

    #[test]
    fn endpoints_need_a_scheme_a_host_and_a_port() {
        assert!(endpoint_ok("http://127.0.0.1:2379"));
        assert!(endpoint_ok("https://etcd.example:2379/"));
        assert!(endpoint_ok("http://[::1]:2379"));
        assert!(!endpoint_ok("127.0.0.1:2379"));
        assert!(!endpoint_ok("http://127.0.0.1"));
        assert!(!endpoint_ok("http://127.0.0.1:0"));
        assert!(!endpoint_ok("http://127.0.0.1:2379/v3"));
        assert!(!endpoint_ok("http://user@127.0.0.1:2379"));
        assert!(!endpoint_ok("ftp://127.0.0.1:2379"));
    }
}
