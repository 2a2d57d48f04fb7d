//! Configuration errors that name the exact key they concern.
//!
//! Nothing here repeats more than a short prefix of what the user wrote: a key, a name or a
//! value of 50 MB must not become a 50 MB log line or API answer. Values are cut when an
//! error is made (`shorten`), key segments and names when they are displayed.

mod wording;

use std::fmt;
use std::sync::Arc;

use crate::defaults::{MAX_ECHOED_VALUE, MAX_KNOWN_NAMES_LISTED, MAX_REPORTED_ERRORS};

pub(crate) use wording::{in_user_words, shorten_quoted};

/// Where in the document a problem is: `listeners.web.default_action.forward`.
///
/// Errors carry one so a user can jump straight to the offending key; the same rendering is
/// used by `ballast check`, reloads and (later) the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath(Vec<Segment>);

/// Keys are shared, not copied: validation extends one path for every key below it, and a
/// path may hold a name of megabytes (refused, but named in the error first).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(Arc<str>),
    Index(usize),
}

/// One thing wrong with a configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{kind}", path_prefix(.path))]
pub struct ConfigError {
    /// The key the problem is about.
    pub path: KeyPath,
    /// What is wrong, with what was found and what was expected.
    pub kind: ErrorKind,
}

/// What is wrong with a value. Variants carry typed fields so callers (tests, the admin API)
/// can inspect them without parsing a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The file is not valid TOML or a value has the wrong shape (unknown key, wrong type).
    #[error("{message}")]
    Parse {
        /// The parser's message, with line and column when known.
        message: String,
    },
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// A name refers to something that is not defined.
    #[error("unknown {what} \"{name}\" (known: {})", known_names(.known, *.known_total))]
    UnknownReference {
        /// The kind of thing referred to, e.g. `target group`.
        what: &'static str,
        /// The name as written, cut to [`MAX_ECHOED_VALUE`] bytes (see `unknown_reference`).
        name: String,
        /// The first [`MAX_KNOWN_NAMES_LISTED`] names that do exist, in order, each cut.
        known: Vec<String>,
        /// How many names exist in all.
        known_total: usize,
    },
    /// A value is present but not acceptable.
    #[error("invalid value {found}: expected {expected}")]
    InvalidValue {
        /// The value as written.
        found: String,
        /// What would have been accepted.
        expected: String,
    },
    /// Two parts of the configuration claim the same resource.
    #[error("{what} is already used by {other}")]
    Conflict {
        /// The resource, e.g. `address 0.0.0.0:80`, any value in it cut to
        /// [`MAX_ECHOED_VALUE`] bytes.
        what: String,
        /// The key path of the other claimant (whose display cuts long keys).
        other: String,
    },
    /// Validation found more problems than are reported; this stands for the rest.
    #[error("{count} more errors not shown (only the first {MAX_REPORTED_ERRORS} are reported)")]
    MoreErrors {
        /// Problems found and not reported.
        count: usize,
    },
}

/// All problems found in a configuration. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

/// `value`, or its first [`MAX_ECHOED_VALUE`] bytes and how long it really was.
pub(crate) fn shorten(value: String) -> String {
    if value.len() <= MAX_ECHOED_VALUE {
        return value;
    }
    shorten_str(&value).into_owned()
}

/// [`shorten`] for a borrowed value: borrowed back when short enough.
pub(crate) fn shorten_str(value: &str) -> std::borrow::Cow<'_, str> {
    match prefix(value) {
        None => std::borrow::Cow::Borrowed(value),
        Some(start) => format!("{start}… ({} bytes)", value.len()).into(),
    }
}

/// The first [`MAX_ECHOED_VALUE`] bytes of `value` (cut at a character boundary) when it is
/// longer than that.
fn prefix(value: &str) -> Option<&str> {
    if value.len() <= MAX_ECHOED_VALUE {
        return None;
    }
    let mut end = MAX_ECHOED_VALUE;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Some(&value[..end])
}

fn path_prefix(path: &KeyPath) -> String {
    if path.is_root() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// The names listed in an [`ErrorKind::UnknownReference`]: every one when there are few,
/// else the first few and how many there are.
fn known_names(names: &[String], total: usize) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    let listed: Vec<&str> = names
        .iter()
        .take(MAX_KNOWN_NAMES_LISTED)
        .map(String::as_str)
        .collect();
    let mut text = listed.join(", ");
    let total = total.max(names.len());
    if total > listed.len() {
        text.push_str(&format!(", … ({total} in all)"));
    }
    text
}

/// An [`ErrorKind::UnknownReference`] for `name`, among the sorted `known` names: the names
/// are cut here, once, so neither memory nor the message grows with them.
pub(crate) fn unknown_reference(what: &'static str, name: &str, known: &[String]) -> ErrorKind {
    ErrorKind::UnknownReference {
        what,
        name: shorten_str(name).into_owned(),
        known: known
            .iter()
            .take(MAX_KNOWN_NAMES_LISTED)
            .map(|n| shorten_str(n).into_owned())
            .collect(),
        known_total: known.len(),
    }
}

// === impl KeyPath ===

impl KeyPath {
    /// The document itself.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by a table key.
    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(Arc::from(key)));
        next
    }

    /// This path extended by an array index.
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// Whether this is the document root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Builds a path from a `serde_path_to_error` path, which uses the same vocabulary.
    pub(crate) fn from_serde(path: &serde_path_to_error::Path) -> Self {
        Self::root().join_serde(path)
    }

    /// This path extended by a `serde_path_to_error` path: where a part of the document
    /// (a rule, a target group) was read on its own, the error still names the whole key.
    pub(crate) fn join_serde(&self, path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        let mut out = self.clone();
        for segment in path.iter() {
            out = match segment {
                S::Seq { index } => out.index(*index),
                S::Map { key } => out.key(key),
                S::Enum { variant } => out.key(variant),
                S::Unknown => out,
            };
        }
        out
    }
}

impl serde::Serialize for KeyPath {
    /// As it is displayed: `listeners.web.rules[0].action`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !key.is_empty()
                        && key.len() <= MAX_ECHOED_VALUE
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    match prefix(key) {
                        _ if bare => f.write_str(key)?,
                        None => write!(f, "\"{}\"", key.escape_default())?,
                        Some(start) => {
                            write!(f, "\"{}…({} bytes)\"", start.escape_default(), key.len())?
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

// === impl ConfigError ===

impl ConfigError {
    /// A problem at `path`.
    pub fn new(path: KeyPath, kind: ErrorKind) -> Self {
        Self { path, kind }
    }
}

// === impl ConfigErrors ===

impl ConfigErrors {
    /// Wraps a single error.
    pub fn single(error: ConfigError) -> Self {
        Self(vec![error])
    }

    /// `Ok(())` when nothing was collected, else the errors: at most [`MAX_REPORTED_ERRORS`]
    /// of them, then one [`ErrorKind::MoreErrors`] counting the rest (`omitted` more were
    /// found and not even kept).
    pub(crate) fn from_vec(mut errors: Vec<ConfigError>, omitted: usize) -> Result<(), Self> {
        let count = errors.len().saturating_sub(MAX_REPORTED_ERRORS) + omitted;
        errors.truncate(MAX_REPORTED_ERRORS);
        if count > 0 {
            errors.push(ConfigError::new(
                KeyPath::root(),
                ErrorKind::MoreErrors { count },
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Self(errors))
        }
    }

    /// The individual errors, in document order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_paths_like_the_file() {
        let path = KeyPath::root()
            .key("listeners")
            .key("web")
            .key("rules")
            .index(2)
            .key("action");
        assert_eq!(path.to_string(), "listeners.web.rules[2].action");
        assert_eq!(
            KeyPath::root()
                .key("target_groups")
                .key("my.group")
                .to_string(),
            "target_groups.\"my.group\""
        );
    }

    #[test]
    fn renders_unknown_reference_with_known_names() {
        let error = ConfigError::new(
            KeyPath::root()
                .key("listeners")
                .key("web")
                .key("default_action")
                .key("forward"),
            unknown_reference("target group", "apii", &["api".into(), "web".into()]),
        );
        assert_eq!(
            error.to_string(),
            "listeners.web.default_action.forward: unknown target group \"apii\" (known: api, web)"
        );
    }

    #[test]
    fn long_keys_and_names_are_cut_when_shown() {
        let name = "n".repeat(1_000_000);
        let path = KeyPath::root().key("listeners").key(&name).key("bind");
        let shown = path.to_string();
        assert!(shown.len() < 200, "{shown}");
        assert!(shown.starts_with("listeners.\"nnn"), "{shown}");
        assert!(shown.ends_with("…(1000000 bytes)\".bind"), "{shown}");

        let known: Vec<String> = (0..100).map(|i| format!("g{i:03}")).collect();
        let error = ConfigError::new(path, unknown_reference("target group", &name, &known));
        let shown = error.to_string();
        assert!(shown.len() < 600, "{shown}");
        assert!(shown.contains("(known: g000, g001,"), "{shown}");
        assert!(shown.ends_with(", g019, … (100 in all))"), "{shown}");

        assert!(
            shown.contains(&format!("\"{}… (1000000 bytes)\"", &name[..80])),
            "{shown}"
        );
    }

    #[test]
    fn errors_beyond_the_limit_are_counted_not_kept() {
        let one = || {
            ConfigError::new(
                KeyPath::root(),
                ErrorKind::Parse {
                    message: "x".into(),
                },
            )
        };
        let errors =
            ConfigErrors::from_vec(vec![one(); MAX_REPORTED_ERRORS + 5], 10).expect_err("errors");
        assert_eq!(errors.errors().len(), MAX_REPORTED_ERRORS + 1);
        assert_eq!(
            errors.errors()[MAX_REPORTED_ERRORS].to_string(),
            format!("15 more errors not shown (only the first {MAX_REPORTED_ERRORS} are reported)")
        );
        assert!(ConfigErrors::from_vec(Vec::new(), 0).is_ok());
    }
}
