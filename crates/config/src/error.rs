//! Configuration errors that name the exact key they concern.

use std::borrow::Cow;
use std::fmt;

/// Where in the document a problem is: `listeners.web.default_action.forward`.
///
/// Errors carry one so a user can jump straight to the offending key; the same rendering is
/// used by `ballast check`, reloads and (later) the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
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
    #[error("{}", shorten_message(.message))]
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
    #[error("unknown {what} \"{}\" (known: {})", shorten(.name.clone()), list_or_none(.known))]
    UnknownReference {
        /// The kind of thing referred to, e.g. `target group`.
        what: &'static str,
        /// The name as written.
        name: String,
        /// The names that do exist.
        known: Vec<String>,
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
        /// The resource, e.g. `address 0.0.0.0:80`.
        what: String,
        /// The key path of the other claimant.
        other: String,
    },
}

/// All problems found in a configuration. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

/// Longest part of a user's value an error message repeats: a huge bad value (a 50 MB name)
/// must not turn into a 50 MB log line or API response.
pub const MAX_ECHOED_VALUE: usize = 80;

/// Most names an "unknown reference" error lists as the known ones; a document with
/// thousands of target groups must not list them all in every such error.
const MAX_LISTED_NAMES: usize = 10;

/// Longest parser message repeated whole. Longer ones echo a value (serde's `invalid type:
/// string "…"`, `unknown field `…``); their middle is cut, keeping what was found at the
/// start and what was expected at the end.
const MAX_MESSAGE: usize = 8 * MAX_ECHOED_VALUE;

/// `value`, or its first [`MAX_ECHOED_VALUE`] characters and how long it really was.
pub(crate) fn shorten(value: String) -> String {
    if value.len() <= MAX_ECHOED_VALUE {
        return value;
    }
    let end = floor_char_boundary(&value, MAX_ECHOED_VALUE);
    format!("{}… ({} bytes)", &value[..end], value.len())
}

/// `message`, or its start and end around an elided middle when it is longer than
/// [`MAX_MESSAGE`] (a parser's message quoting a huge value).
pub(crate) fn shorten_message(message: &str) -> Cow<'_, str> {
    if message.len() <= MAX_MESSAGE {
        return Cow::Borrowed(message);
    }
    let head = floor_char_boundary(message, 2 * MAX_ECHOED_VALUE);
    let mut tail = message.len() - 4 * MAX_ECHOED_VALUE;
    while !message.is_char_boundary(tail) {
        tail += 1;
    }
    Cow::Owned(format!(
        "{}… ({} bytes) …{}",
        &message[..head],
        message.len(),
        &message[tail..]
    ))
}

/// The largest char boundary in `text` at or below `at`.
fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn path_prefix(path: &KeyPath) -> String {
    if path.is_root() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    let mut list = names
        .iter()
        .take(MAX_LISTED_NAMES)
        .map(|name| shorten(name.clone()))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX_LISTED_NAMES {
        list.push_str(&format!(" and {} more", names.len() - MAX_LISTED_NAMES));
    }
    list
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
        next.0.push(Segment::Key(key.to_owned()));
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
                    if bare {
                        f.write_str(key)?;
                    } else if key.len() > MAX_ECHOED_VALUE {
                        // Keys are the user's names (listeners, groups, unknown keys): a
                        // huge one is cut like any echoed value.
                        let end = floor_char_boundary(key, MAX_ECHOED_VALUE);
                        let cut = key[..end].escape_default();
                        write!(f, "\"{cut}… ({} bytes)\"", key.len())?;
                    } else {
                        write!(f, "\"{}\"", key.escape_default())?;
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

    /// `Ok(())` when nothing was collected, else the errors.
    pub(crate) fn from_vec(errors: Vec<ConfigError>) -> Result<(), Self> {
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
    fn huge_names_keys_and_messages_are_cut_when_shown() {
        // Found by fuzzing (fuzz/seeds/config_loader/long_*): a 5 KB name, key or wrongly
        // typed string was repeated whole in the error (twice for an unknown key).
        let huge = "g".repeat(5000);
        let unknown = ConfigError::new(
            KeyPath::root().key("target_groups").key(&huge),
            ErrorKind::UnknownReference {
                what: "target group",
                name: huge.clone(),
                known: (0..1000).map(|i| format!("group{i}")).collect(),
            },
        );
        let shown = unknown.to_string();
        assert!(shown.len() < 1000, "{shown}");
        assert!(shown.contains("(5000 bytes)") && shown.ends_with(" and 990 more)"));
        let parse = ErrorKind::Parse {
            message: format!("invalid type: string \"{huge}\", expected i64"),
        };
        let shown = parse.to_string();
        assert!(shown.len() <= 2 * MAX_MESSAGE, "{shown}");
        assert!(shown.starts_with("invalid type: string \"ggg"));
        assert!(shown.ends_with("\", expected i64"));
        // Short ones are untouched, and a cut never splits a character.
        assert_eq!(shorten_message("unknown field `x`"), "unknown field `x`");
        let wide = "é".repeat(MAX_MESSAGE);
        assert!(shorten_message(&wide).len() < wide.len());
    }

    #[test]
    fn renders_unknown_reference_with_known_names() {
        let error = ConfigError::new(
            KeyPath::root()
                .key("listeners")
                .key("web")
                .key("default_action")
                .key("forward"),
            ErrorKind::UnknownReference {
                what: "target group",
                name: "apii".into(),
                known: vec!["api".into(), "web".into()],
            },
        );
        assert_eq!(
            error.to_string(),
            "listeners.web.default_action.forward: unknown target group \"apii\" (known: api, web)"
        );
    }
}
