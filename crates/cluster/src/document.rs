//! Which parts of a configuration document the cluster shares and which stay with each node,
//! and how the shared part is kept in etcd. Pure.
//!
//! `[cluster]` (how to reach etcd), `[admin]` (where this node's API listens) and `[server]`
//! (workers, zone, the upgrade socket) belong to the node; everything else is the cluster's.
//! The shared part is stored as the document's JSON, which reads back without loss.

use ballast_config::{ConfigErrors, Document};

/// The part of `document` every node shares: without `[cluster]`, `[admin]` and `[server]`.
pub fn shared_part(document: &Document) -> Document {
    let mut raw = document.raw().clone();
    raw.cluster = None;
    raw.admin = None;
    raw.server = None;
    Document::from_raw(raw)
}

/// This node's document: the cluster's `shared` part with `local`'s own tables.
pub fn compose(local: &Document, shared: &Document) -> Document {
    let mut raw = shared.raw().clone();
    raw.cluster = local.raw().cluster.clone();
    raw.admin = local.raw().admin.clone();
    raw.server = local.raw().server.clone();
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
    fn bad_bytes_are_refused_with_their_reason() {
        assert!(matches!(decode(b"{not json"), Err(DecodeError::NotJson(_))));
        assert!(matches!(
            decode(br#"{"listeners": 3}"#),
            Err(DecodeError::NotADocument(_))
        ));
    }
}
