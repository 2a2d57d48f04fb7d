//! The document's secrets: hidden when the document is shown, and kept when a client sends
//! the hidden form back (it read the document, changed something else, and put it back).

use super::Document;
use crate::raw::RawConfig;

/// What is shown instead of a secret; sent back unchanged, it means "keep the current one".
pub const REDACTED: &str = "<redacted>";

/// Where the secrets are, as key paths of the document (for the diff, which redacts them).
pub(super) const SECRET_PATHS: [[&str; 2]; 3] = [
    ["admin", "token"],
    ["server", "stickiness_secret"],
    ["cluster", "password"],
];

// === impl Document ===

impl Document {
    /// The document with every secret replaced by [`REDACTED`], for showing it.
    pub fn redacted(&self) -> Document {
        let mut shown = self.clone();
        for secret in secrets_mut(&mut shown.raw).into_iter().flatten() {
            if secret.is_some() {
                *secret = Some(REDACTED.to_owned());
            }
        }
        shown
    }

    /// Puts `running`'s secrets back wherever this document still says [`REDACTED`]: a
    /// client that read the redacted document and sends it back keeps the secrets it could
    /// not see. A secret `running` does not have becomes absent.
    pub fn unredact(&mut self, running: &Document) {
        let mut running = running.raw.clone();
        let kept = secrets_mut(&mut running);
        for (secret, kept) in secrets_mut(&mut self.raw).into_iter().zip(kept) {
            let Some(secret) = secret else { continue };
            if secret.as_deref() == Some(REDACTED) {
                *secret = kept.and_then(Option::take);
            }
        }
    }
}

/// Each secret's slot, in [`SECRET_PATHS`] order; `None` where its table is absent.
fn secrets_mut(raw: &mut RawConfig) -> [Option<&mut Option<String>>; 3] {
    [
        raw.admin.as_mut().map(|a| &mut a.token),
        raw.server.as_mut().map(|s| &mut s.stickiness_secret),
        raw.cluster.as_mut().map(|c| &mut c.password),
    ]
}
