//! The key that seals sticky cookies, kept from build to build.

use std::time::Instant;

use ballast_balance::StickyKey;
use ballast_config::Config;
use ballast_http::HttpSnapshot;

/// The key sealing sticky cookies: from the configured secret, or else the previous
/// build's (so cookies survive a reload), or else random for this process.
pub(crate) fn sticky_key(config: &Config, previous: Option<&HttpSnapshot>) -> StickyKey {
    if let Some(secret) = &config.server.stickiness_secret {
        let key = StickyKey::from_secret(secret.expose().as_bytes());
        return match previous.and_then(|p| p.sticky_key.as_ref()) {
            Some(older) => key.rotated_from(older),
            None => key,
        };
    }
    if let Some(key) = previous.and_then(|p| p.sticky_key.clone()) {
        return key;
    }
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: cookies are then only as unguessable as this; log it loudly.
        tracing::error!("no OS randomness for the sticky-cookie key; set server.stickiness_secret");
        bytes = fallback_key_bytes();
    }
    StickyKey::from_bytes(bytes)
}

/// Key bytes from std's hasher seeds (themselves from the OS), for when getrandom fails.
fn fallback_key_bytes() -> [u8; 32] {
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(Instant::now().elapsed().as_nanos());
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    bytes
}
