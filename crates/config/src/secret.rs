//! [`Secret`]: a value from the configuration that is never printed. Its own module because
//! both the model (`server.stickiness_secret`) and the operations settings (`admin.token`)
//! hold one, and neither should import the other for it.

use std::fmt;

/// A secret from the configuration: never printed, not even in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}
