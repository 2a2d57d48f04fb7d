//! Reading a document into the raw model: TOML or JSON, with every problem turned into a
//! [`ConfigError`] that names its key path (and line and column) in the user's words.

use crate::defaults::MAX_CONFIG_BYTES;
use crate::error::{in_user_words, ConfigError, ConfigErrors, ErrorKind, KeyPath};

use super::RawConfig;

/// Deserializes a document into the raw model, turning any parse problem into a
/// [`ConfigError`] whose path is the key being read when it failed. A document over
/// [`MAX_CONFIG_BYTES`] is refused before it is parsed.
pub fn parse(text: &str) -> Result<RawConfig, ConfigErrors> {
    check_size(text.len() as u64)?;
    let deserializer =
        toml::de::Deserializer::parse(text).map_err(|e| toml_error(text, &e, KeyPath::root()))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = KeyPath::from_serde(e.path());
        toml_error(text, e.inner(), path)
    })
}

/// Deserializes a JSON document (the admin API's form of the same file) into the raw model.
pub fn parse_json(document: &serde_json::Value) -> Result<RawConfig, ConfigErrors> {
    serde_path_to_error::deserialize(document)
        .map_err(|e| ConfigErrors::single(json_error(&KeyPath::root(), &e)))
}

/// A JSON deserialization error at `at` plus its own path, in the user's words.
pub(crate) fn json_error(
    at: &KeyPath,
    error: &serde_path_to_error::Error<serde_json::Error>,
) -> ConfigError {
    ConfigError::new(
        at.join_serde(error.path()),
        ErrorKind::Parse {
            message: in_user_words(&error.inner().to_string()),
        },
    )
}

/// Refuses a document of `size` bytes when it is over [`MAX_CONFIG_BYTES`].
pub(crate) fn check_size(size: u64) -> Result<(), ConfigErrors> {
    if size <= MAX_CONFIG_BYTES as u64 {
        return Ok(());
    }
    Err(too_large(format!("a document of {size} bytes")))
}

/// The error of a document over [`MAX_CONFIG_BYTES`], described as `found`.
pub(crate) fn too_large(found: String) -> ConfigErrors {
    ConfigErrors::single(ConfigError::new(
        KeyPath::root(),
        ErrorKind::InvalidValue {
            found,
            expected: format!(
                "at most {MAX_CONFIG_BYTES} bytes ({} MiB)",
                MAX_CONFIG_BYTES >> 20
            ),
        },
    ))
}

fn toml_error(text: &str, error: &toml::de::Error, path: KeyPath) -> ConfigErrors {
    let mut message = in_user_words(error.message());
    if let Some(span) = error.span() {
        let mut offset = span.start.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        message = format!("{message} (line {line}, column {column})");
    }
    ConfigErrors::single(ConfigError::new(path, ErrorKind::Parse { message }))
}
