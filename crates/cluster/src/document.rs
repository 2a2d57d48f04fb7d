//! Which parts of a configuration document the cluster shares and which stay with each node,
//! and how the shared part is kept in etcd. Pure.
//!
//! `[cluster]` (how to reach etcd), `[admin]` (where this node's API listens) and `[server]`
//! (workers, zone, the upgrade socket) belong to the node; everything else is the cluster's,
//! and so is `server.stickiness_secret`, so that every node honours the sticky cookies any
//! other node issued (a node's file may still set its own). The shared part is stored as the
//! document's JSON, which reads back without loss.

use ballast_config::raw::RawServer;
use ballast_config::{ConfigErrors, Document};

/// The part of `document` every node shares: without `[cluster]`, `[admin]` and `[server]`
/// (but its `stickiness_secret`).
pub fn shared_part(document: &Document) -> Document {
    let mut raw = document.raw().clone();
    raw.cluster = None;
    raw.admin = None;
    raw.server = raw
        .server
        .and_then(|s| s.stickiness_secret)
        .map(|secret| RawServer {
            stickiness_secret: Some(secret),
            ..RawServer::default()
        });
    Document::from_raw(raw)
}

/// This node's document: the cluster's `shared` part with `local`'s own tables (and the
/// cluster's sticky-cookie secret unless `local` sets one).
pub fn compose(local: &Document, shared: &Document) -> Document {
    let mut raw = shared.raw().clone();
    let secret = raw.server.take().and_then(|s| s.stickiness_secret);
    raw.cluster = local.raw().cluster.clone();
    raw.admin = local.raw().admin.clone();
    raw.server = local.raw().server.clone();
    let own = raw
        .server
        .as_ref()
        .and_then(|s| s.stickiness_secret.as_ref());
    if let (Some(secret), None) = (secret, own) {
        raw.server
            .get_or_insert_with(RawServer::default)
            .stickiness_secret = Some(secret);
    }
    Document::from_raw(raw)
}

/// `document` with a new random sticky-cookie secret when it has none: the first node
/// gives the cluster one, so that cookies are honoured by every node from the start.
pub(crate) fn with_sticky_secret(document: &Document) -> Document {
    let mut raw = document.raw().clone();
    let server = raw.server.get_or_insert_with(RawServer::default);
    if server.stickiness_secret.is_none() {
        let mut bytes = [0u8; 32];
        if getrandom::fill(&mut bytes).is_ok() {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            server.stickiness_secret = Some(hex);
        }
    }
    Document::from_raw(raw)
}

/// The bytes stored in etcd for `document`'s shared part.
pub fn encode(document: &Document) -> Vec<u8> {
    shared_part(document).to_json().to_string().into_bytes()
}

/// Why a value read from etcd is not a shared document.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all.
    #[error("the stored configuration is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// JSON, but not a document; every problem with its key path.
    #[error("the stored configuration is not a document: {0}")]
    NotADocument(ConfigErrors),
}

/// The shared document stored in `bytes` (its node tables, if someone wrote them, dropped).
pub fn decode(bytes: &[u8]) -> Result<Document, DecodeError> {
    let json: serde_json::Value = serde_json::from_slice(bytes)?;
    let document = Document::from_json(&json).map_err(DecodeError::NotADocument)?;
    Ok(shared_part(&document))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: &str = r#"
[server]
workers = 2
[admin]
bind = "127.0.0.1:9901"
[cluster]
etcd = ["http://127.0.0.1:2379"]
node_name = "a"
[target_groups.app]
targets = ["127.0.0.1:9000"]
[listeners.web]
bind = "127.0.0.1:8080"
default_action = { forward = "app" }
"#;

    #[test]
    fn the_shared_part_leaves_the_node_tables_out_and_compose_puts_them_back() {
        let local = Document::from_toml(LOCAL).unwrap();
        let shared = shared_part(&local);
        assert!(shared.raw().cluster.is_none() && shared.raw().admin.is_none());
        assert!(shared.raw().server.is_none());
        assert!(shared.listener("web").is_some());
        assert_eq!(compose(&local, &shared), local);
    }

    #[test]
    fn another_nodes_tables_never_come_in_through_etcd() {
        let local = Document::from_toml(LOCAL).unwrap();
        let other = LOCAL
            .replace("node_name = \"a\"", "node_name = \"b\"")
            .replace("9901", "9902")
            .replace("8080", "8081");
        let other = Document::from_toml(&other).unwrap();
        // What another node wrote, even whole, keeps this node's own tables here.
        let stored = other.to_json().to_string().into_bytes();
        let mine = compose(&local, &decode(&stored).unwrap());
        assert_eq!(mine.raw().cluster, local.raw().cluster);
        assert_eq!(mine.raw().admin, local.raw().admin);
        assert_eq!(mine.listener("web").unwrap().bind, "127.0.0.1:8081");
        assert_eq!(decode(&encode(&other)).unwrap(), shared_part(&other));
    }

    #[test]
    fn the_sticky_secret_is_shared_unless_a_node_sets_its_own() {
        let local = Document::from_toml(LOCAL).unwrap();
        let first = with_sticky_secret(&local);
        let secret = first
            .raw()
            .server
            .as_ref()
            .unwrap()
            .stickiness_secret
            .clone();
        assert_eq!(secret.as_ref().map(String::len), Some(64));
        assert!(first.validate().is_ok());
        // It travels in the shared part, without the rest of [server].
        let shared = decode(&encode(&first)).unwrap();
        let server = shared.raw().server.clone().unwrap();
        assert_eq!(
            (server.stickiness_secret, server.workers),
            (secret.clone(), None)
        );
        let other =
            Document::from_toml(&LOCAL.replace("node_name = \"a\"", "node_name = \"b\"")).unwrap();
        let b = compose(&other, &shared);
        assert_eq!(b.raw().server.as_ref().unwrap().stickiness_secret, secret);
        assert_eq!(b.raw().server.as_ref().unwrap().workers, Some(2));
        // A node's own secret wins, and one already there is kept.
        let own = LOCAL.replace(
            "workers = 2",
            "workers = 2\nstickiness_secret = \"0123456789abcdef0123456789abcdef-own\"",
        );
        let own = Document::from_toml(&own).unwrap();
        let mine = compose(&own, &shared)
            .raw()
            .server
            .clone()
            .unwrap()
            .stickiness_secret;
        assert_eq!(
            mine.as_deref(),
            Some("0123456789abcdef0123456789abcdef-own")
        );
        assert_eq!(with_sticky_secret(&own), own);
    }

    #[test]
    fn bad_bytes_are_refused_with_their_reason() {
        assert!(matches!(decode(b"{not json"), Err(DecodeError::NotJson(_))));
        assert!(matches!(
            decode(br#"{"listeners": 3}"#),
            Err(DecodeError::NotADocument(_))
        ));
    }
}
