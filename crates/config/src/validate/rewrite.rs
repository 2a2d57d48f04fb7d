//! Checks of `request_headers` / `response_headers` tables.

use super::Validator;
use crate::error::KeyPath;
use crate::raw::RawHeaderRewrite;
use crate::rewrite::{
    HeaderRewrite, BALLAST_REQUEST_HEADERS, MAX_REWRITE_FIELDS, MAX_REWRITE_VALUE,
    PROTECTED_HEADERS,
};

/// Which side a rewrite applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Request,
    Response,
}

impl Validator {
    /// A rewrite table; absent is empty.
    pub(super) fn header_rewrite(
        &mut self,
        path: &KeyPath,
        raw: Option<&RawHeaderRewrite>,
        direction: Direction,
    ) -> HeaderRewrite {
        let Some(raw) = raw else {
            return HeaderRewrite::default();
        };
        let total = raw.set.len() + raw.add.len() + raw.remove.len();
        if total > MAX_REWRITE_FIELDS {
            self.invalid(
                path.clone(),
                format!("{total} fields"),
                format!("at most {MAX_REWRITE_FIELDS} fields in set, add and remove together"),
            );
            return HeaderRewrite::default();
        }
        let mut out = HeaderRewrite::default();
        for (list, entries, into) in [
            ("set", &raw.set, &mut out.set),
            ("add", &raw.add, &mut out.add),
        ] {
            for (name, value) in entries {
                let at = path.key(list).key(name);
                let name_ok = self.rewrite_name(&at, name, direction);
                let value_ok = self.rewrite_value(&at, value);
                if name_ok && value_ok {
                    into.push((name.clone(), value.clone()));
                }
            }
        }
        for (i, name) in raw.remove.iter().enumerate() {
            if self.rewrite_name(&path.key("remove").index(i), name, direction) {
                out.remove.push(name.clone());
            }
        }
        out
    }

    fn rewrite_name(&mut self, path: &KeyPath, name: &str, direction: Direction) -> bool {
        let token = !name.is_empty()
            && name.len() <= 256
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            self.invalid(
                path.clone(),
                format!("\"{name}\""),
                "a header field name (letters, digits and !#$%&'*+-.^_`|~, at most 256)",
            );
            return false;
        }
        let lower = name.to_ascii_lowercase();
        let ours = direction == Direction::Request && BALLAST_REQUEST_HEADERS.contains(&&*lower);
        if PROTECTED_HEADERS.contains(&&*lower) || ours {
            self.invalid(
                path.clone(),
                format!("\"{name}\""),
                "a field Ballast does not manage itself (framing, connection, Host and forwarding fields cannot be rewritten)",
            );
            return false;
        }
        true
    }

    fn rewrite_value(&mut self, path: &KeyPath, value: &str) -> bool {
        let ok = value.len() <= MAX_REWRITE_VALUE
            && value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
            && value.trim() == value;
        if !ok {
            self.invalid(
                path.clone(),
                format!("\"{value}\""),
                format!("a header field value: no control characters, no leading or trailing spaces, at most {MAX_REWRITE_VALUE} bytes"),
            );
        }
        ok
    }
}
