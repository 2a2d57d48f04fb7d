//! Header rewrites compiled for the request path: a listener's and a rule's
//! `request_headers` / `response_headers` merged once, when the snapshot is built, into the
//! names to take out and the field lines to write.

use ballast_config::HeaderRewrite;
use http::{HeaderMap, HeaderName, HeaderValue};

/// One direction's rewrite, ready to apply.
#[derive(Debug, Default)]
pub struct HeaderOps {
    /// Names taken out of the message, lower case (`remove` and `set` names).
    removed: Vec<Box<[u8]>>,
    /// `Name: value` CRLF lines written (`set` then `add`).
    lines: Vec<u8>,
    /// The same fields for HTTP/2 responses: (name, value, replace).
    fields: Vec<(HeaderName, HeaderValue)>,
}

impl HeaderOps {
    /// Merges a listener's rewrite with a rule's (which applies after it); `None` when
    /// together they change nothing.
    pub fn build(listener: &HeaderRewrite, rule: Option<&HeaderRewrite>) -> Option<Self> {
        let empty = HeaderRewrite::default();
        let rule = rule.unwrap_or(&empty);
        if listener.is_empty() && rule.is_empty() {
            return None;
        }
        let mut ops = HeaderOps::default();
        let overridden = |name: &str| {
            rule.remove
                .iter()
                .chain(rule.set.iter().map(|(n, _)| n))
                .any(|n| n.eq_ignore_ascii_case(name))
        };
        for name in listener
            .remove
            .iter()
            .chain(listener.set.iter().map(|(n, _)| n))
            .chain(rule.remove.iter())
            .chain(rule.set.iter().map(|(n, _)| n))
        {
            let lower: Box<[u8]> = name.to_ascii_lowercase().into_bytes().into();
            if !ops.removed.contains(&lower) {
                ops.removed.push(lower);
            }
        }
        let listener_fields = listener
            .set
            .iter()
            .chain(listener.add.iter())
            .filter(|(name, _)| !overridden(name));
        for (name, value) in listener_fields
            .chain(rule.set.iter())
            .chain(rule.add.iter())
        {
            ops.push(name, value);
        }
        Some(ops)
    }

    fn push(&mut self, name: &str, value: &str) {
        self.lines.extend_from_slice(name.as_bytes());
        self.lines.extend_from_slice(b": ");
        self.lines.extend_from_slice(value.as_bytes());
        self.lines.extend_from_slice(b"\r\n");
        // Validation accepted both, so these conversions hold; a field that would not
        // convert is left out of HTTP/2 responses rather than failing them.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.fields.push((n, v));
        }
    }

    /// Whether a field of this name is taken out of the message.
    #[inline]
    pub(crate) fn removes(&self, name: &[u8]) -> bool {
        self.removed.iter().any(|r| r.eq_ignore_ascii_case(name))
    }

    /// Writes the fields this rewrite adds, as HTTP/1 lines.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.lines);
    }

    /// Applies the rewrite to an HTTP/2 message's fields.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.removed {
            if let Ok(name) = HeaderName::from_bytes(name) {
                headers.remove(name);
            }
        }
        for (name, value) in &self.fields {
            headers.append(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(set: &[(&str, &str)], add: &[(&str, &str)], remove: &[&str]) -> HeaderRewrite {
        let own = |l: &[(&str, &str)]| {
            l.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        HeaderRewrite {
            set: own(set),
            add: own(add),
            remove: remove.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn a_rule_overrides_its_listener() {
        let listener = rewrite(
            &[("X-Env", "prod"), ("X-Frame-Options", "DENY")],
            &[("X-A", "1")],
            &["Server"],
        );
        let rule = rewrite(
            &[("x-frame-options", "SAMEORIGIN")],
            &[("X-B", "2")],
            &["x-a"],
        );
        let ops = HeaderOps::build(&listener, Some(&rule)).unwrap();
        let mut out = Vec::new();
        ops.write(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "X-Env: prod\r\nx-frame-options: SAMEORIGIN\r\nX-B: 2\r\n"
        );
        for name in ["server", "X-ENV", "x-frame-options", "x-a"] {
            assert!(ops.removes(name.as_bytes()), "{name}");
        }
        assert!(!ops.removes(b"x-b"));
        assert!(HeaderOps::build(&HeaderRewrite::default(), None).is_none());
    }

    #[test]
    fn http2_maps_get_the_same_fields() {
        let ops = HeaderOps::build(
            &rewrite(&[("x-env", "prod")], &[("x-add", "1")], &["server"]),
            None,
        )
        .unwrap();
        let mut map = HeaderMap::new();
        map.insert("server", HeaderValue::from_static("nginx"));
        map.insert("x-env", HeaderValue::from_static("dev"));
        map.insert("x-add", HeaderValue::from_static("0"));
        ops.apply(&mut map);
        assert!(map.get("server").is_none());
        assert_eq!(map.get_all("x-env").iter().collect::<Vec<_>>(), ["prod"]);
        assert_eq!(map.get_all("x-add").iter().collect::<Vec<_>>(), ["0", "1"]);
    }
}
