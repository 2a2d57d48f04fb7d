//! Choosing a listener's certificate per handshake by SNI, from a table that can be swapped
//! while connections are open (certificate rotation).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::CertificateInfo;

/// The certificates of one listener, by name. Lock-free to read: one `ArcSwap` load per
/// handshake.
#[derive(Debug)]
pub struct SniResolver {
    table: ArcSwap<SniTable>,
}

#[derive(Debug, Default)]
struct SniTable {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` filed under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// The first certificate: for clients that send no SNI, or a name nobody serves.
    default: Option<Arc<CertifiedKey>>,
}

impl SniResolver {
    /// A resolver serving `certificates`; the first is the default.
    pub fn new(certificates: &[CertificateInfo]) -> Self {
        Self {
            table: ArcSwap::from_pointee(SniTable::build(certificates)),
        }
    }

    /// Serves `certificates` from the next handshake on; handshakes and connections already
    /// under way keep what they had.
    pub fn replace(&self, certificates: &[CertificateInfo]) {
        self.table.store(Arc::new(SniTable::build(certificates)));
    }

    /// The certificate for a server name (`None`: no SNI).
    pub fn certificate_for(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let table = self.table.load();
        let Some(name) = name else {
            return table.default.clone();
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(key) = table.exact.get(&name) {
            return Some(Arc::clone(key));
        }
        // A wildcard covers exactly one label: `*.example.com` serves `a.example.com`.
        let parent = name.split_once('.').map(|(_, parent)| parent);
        if let Some(key) = parent.and_then(|p| table.wildcard.get(p)) {
            return Some(Arc::clone(key));
        }
        table.default.clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.certificate_for(client_hello.server_name())
    }
}

impl SniTable {
    fn build(certificates: &[CertificateInfo]) -> Self {
        let mut table = SniTable {
            default: certificates.first().map(|c| Arc::clone(&c.key)),
            ..SniTable::default()
        };
        for certificate in certificates {
            for name in &certificate.names {
                let map = match name.strip_prefix("*.") {
                    Some(parent) => table.wildcard.entry(parent.to_owned()),
                    None => table.exact.entry(name.clone()),
                };
                // The first certificate listing a name serves it.
                map.or_insert_with(|| Arc::clone(&certificate.key));
            }
        }
        table
    }
}
