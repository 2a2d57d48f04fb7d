//! Serde's and the TOML parser's messages in the words of the file's reader.
//!
//! Serde describes a mismatch in Rust's terms (`invalid type: string "x", expected i64`,
//! `expected struct RawServer`, `unknown field`); a user wrote TOML or JSON and thinks in
//! integers, tables and keys. Every parse error passes through [`in_user_words`] once, so the
//! mapping lives in one place and each message shape it knows has a test. A message it does
//! not recognise (the TOML parser's syntax errors, our own visitors' `expecting` texts) is
//! kept as it is. Either way no quoted value longer than [`MAX_ECHOED_VALUE`] bytes survives,
//! and the whole message is at most [`MAX_PARSE_MESSAGE`] bytes: both may quote the input.

use crate::defaults::MAX_ECHOED_VALUE;

/// Longest parse message kept, in bytes; a list of known keys fits several times over.
const MAX_PARSE_MESSAGE: usize = 1024;

/// `message` (from serde or the TOML parser) said in TOML's and JSON's words, shortened.
pub(crate) fn in_user_words(message: &str) -> String {
    let message = message.trim();
    let translated = translate(message).unwrap_or_else(|| shorten_quoted(message));
    cap(translated)
}

/// The message rewritten, if its shape is one serde produces.
fn translate(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = split_found(rest)?;
        return Some(format!(
            "expected {}, found {}",
            expected_words(expected),
            found_words(found)
        ));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (found, expected) = split_found(rest)?;
        return Some(format!(
            "invalid value {}: expected {}",
            value_words(found),
            range_words(expected).unwrap_or_else(|| expected_words(expected))
        ));
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        let (length, expected) = rest.split_once(", expected ")?;
        return Some(format!(
            "expected {}, found {length} entries",
            expected_words(expected)
        ));
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (key, rest) = backticked(rest)?;
        let known = match rest.strip_prefix(", expected ") {
            Some(list) => format!("known: {}", one_of(list)),
            None => "this table has no keys".to_owned(),
        };
        return Some(format!("unknown key \"{}\" ({known})", shorten(key)));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (value, rest) = backticked(rest)?;
        let accepted = match rest.strip_prefix(", expected ") {
            Some(list) => format!("expected {}", quoted_list(list)),
            None => "no value is accepted here".to_owned(),
        };
        return Some(format!("unknown value \"{}\": {accepted}", shorten(value)));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let (key, _) = backticked(rest)?;
        return Some(format!(
            "missing key \"{}\", which is required",
            shorten(key)
        ));
    }
    if let Some(rest) = message.strip_prefix("duplicate field ") {
        let (key, _) = backticked(rest)?;
        return Some(format!("key \"{}\" is given twice", shorten(key)));
    }
    None
}

/// Splits `FOUND, expected EXPECTED`, where FOUND may be a quoted string holding
/// `, expected ` itself.
fn split_found(rest: &str) -> Option<(&str, &str)> {
    let end_of_found = match rest.strip_prefix("string \"") {
        Some(quoted) => "string \"".len() + debug_string_len(quoted)?,
        None => rest.find(", expected ")?,
    };
    let (found, tail) = rest.split_at(end_of_found);
    Some((found, tail.strip_prefix(", expected ")?))
}

/// The length of a `{:?}`-escaped string's body up to and including its closing quote.
fn debug_string_len(quoted: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// `` `key`rest `` → `(key, rest)`.
fn backticked(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('`')?;
    let end = inner.find('`')?;
    Some((&inner[..end], &inner[end + 1..]))
}

/// What serde found (its `Unexpected`), as a reader of the file would name it.
fn found_words(found: &str) -> String {
    if let Some(s) = found.strip_prefix("string ") {
        return format!("the string {}", shorten_quoted(s));
    }
    if let Some(n) = ticked_value(found, "integer ") {
        return format!("the integer {n}");
    }
    // The TOML parser's word for an integer beyond 64 bits.
    if let Some(n) = found
        .strip_prefix("integer `")
        .and_then(|rest| rest.strip_suffix("` as i128"))
    {
        return format!("the integer {}, which is too large", shorten(n));
    }
    if let Some(n) = ticked_value(found, "floating point ") {
        return format!("the number {n}");
    }
    if let Some(b) = ticked_value(found, "boolean ") {
        return b.to_owned();
    }
    if let Some(c) = ticked_value(found, "character ") {
        return format!("the character '{c}'");
    }
    match found {
        "map" => "a table".to_owned(),
        "sequence" => "an array".to_owned(),
        "unit value" | "null" => "null".to_owned(),
        "Option value" => "an optional value".to_owned(),
        "byte array" => "bytes".to_owned(),
        other => shorten_quoted(other),
    }
}

/// A found value alone (for `invalid value`): `5000`, `"x"`.
fn value_words(found: &str) -> String {
    if let Some(s) = found.strip_prefix("string ") {
        return shorten_quoted(s);
    }
    for kind in ["integer ", "floating point ", "boolean ", "character "] {
        if let Some(v) = ticked_value(found, kind) {
            return v.to_owned();
        }
    }
    found_words(found)
}

/// `` integer `5` `` with prefix `integer ` → `5`.
fn ticked_value<'a>(found: &'a str, kind: &str) -> Option<&'a str> {
    found
        .strip_prefix(kind)?
        .strip_prefix('`')?
        .strip_suffix('`')
}

/// What serde expected (its `Expected`), as a reader of the file would name it. Our own
/// visitors' texts (`"IP:PORT" or a table { … }`) are already in these words.
fn expected_words(expected: &str) -> String {
    let words = match expected {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => "an integer",
        "f32" | "f64" => "a number",
        "a boolean" | "bool" => "true or false",
        "a string" | "a borrowed string" | "string" => "a string",
        "a map" | "map" => "a table",
        "a sequence" | "sequence" => "an array",
        "a character" | "char" => "a single character",
        "unit" => "nothing",
        "option" => "a value",
        other if other.starts_with("struct ") => "a table",
        other if other.starts_with("enum ") => "one of the accepted values",
        other if other.starts_with("tuple") || other.starts_with("a tuple") => "an array",
        other => return shorten_quoted(other),
    };
    words.to_owned()
}

/// For an integer out of its type's range (`expected u16`), the range in words.
fn range_words(expected: &str) -> Option<String> {
    let (low, high): (i128, i128) = match expected {
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        _ => return None,
    };
    Some(format!("an integer from {low} to {high}"))
}

/// Serde's `OneOf` list (`` `a` ``, `` `a` or `b` ``, `` one of `a`, `b` ``) as `a, b`.
fn one_of(list: &str) -> String {
    let names = backticked_names(list);
    if names.is_empty() {
        return shorten_quoted(list);
    }
    names.join(", ")
}

/// Serde's `OneOf` list as `"a"`, `"a" or "b"` or `one of "a", "b", "c"`.
fn quoted_list(list: &str) -> String {
    let names: Vec<String> = backticked_names(list)
        .into_iter()
        .map(|n| format!("\"{n}\""))
        .collect();
    match names.as_slice() {
        [] => shorten_quoted(list),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        many => format!("one of {}", many.join(", ")),
    }
}

/// Every `` `name` `` in `list`, shortened.
fn backticked_names(list: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = list;
    while let Some(start) = rest.find('`') {
        let Some((name, after)) = backticked(&rest[start..]) else {
            break;
        };
        names.push(shorten(name));
        rest = after;
    }
    names
}

fn shorten(text: &str) -> String {
    super::shorten_str(text).into_owned()
}

/// `text` with every quoted run (`"…"` or `` `…` ``) longer than [`MAX_ECHOED_VALUE`] cut:
/// for messages that may quote the input (serde's, or a parser's reason inside ours).
pub(crate) fn shorten_quoted(text: &str) -> String {
    if text.len() <= MAX_ECHOED_VALUE {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=start]);
        let inner = &rest[start + 1..];
        let end = if quote == '"' {
            debug_string_len(inner).map(|n| n - 1)
        } else {
            inner.find('`')
        };
        let Some(end) = end else {
            out.push_str(&shorten(inner));
            return out;
        };
        out.push_str(&shorten(&inner[..end]));
        out.push(quote);
        rest = &inner[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `message` cut to [`MAX_PARSE_MESSAGE`] bytes.
fn cap(mut message: String) -> String {
    if message.len() > MAX_PARSE_MESSAGE {
        let mut end = MAX_PARSE_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests;
