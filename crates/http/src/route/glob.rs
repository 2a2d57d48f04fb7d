//! Globs with `*` (any run of characters, empty included) and `?` (exactly one), as ALB's
//! rule conditions have them. Patterns are validated and, where matching is case-insensitive,
//! lower-cased when the configuration is loaded; matching allocates nothing.

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    pattern: Box<[u8]>,
    /// No wildcard: a plain comparison does.
    literal: bool,
    /// Compare ASCII letters without case (the pattern is lower case).
    fold: bool,
}

impl Glob {
    /// A glob matching case-sensitively.
    pub(crate) fn exact(pattern: &str) -> Self {
        Self::new(pattern, false)
    }

    /// A glob matching ASCII letters in any case.
    pub(crate) fn folded(pattern: &str) -> Self {
        Self::new(&pattern.to_ascii_lowercase(), true)
    }

    fn new(pattern: &str, fold: bool) -> Self {
        Self {
            literal: !pattern.bytes().any(|b| b == b'*' || b == b'?'),
            pattern: pattern.as_bytes().into(),
            fold,
        }
    }

    /// The pattern when it has no wildcard.
    pub(crate) fn as_literal(&self) -> Option<&str> {
        self.literal
            .then(|| std::str::from_utf8(&self.pattern).ok())
            .flatten()
    }

    /// The pattern itself.
    pub(crate) fn pattern(&self) -> &[u8] {
        &self.pattern
    }

    /// Whether `text` matches. Linear in practice: a `*` remembers where to resume, so a
    /// mismatch backtracks only to the last star (the classic two-pointer match).
    pub(crate) fn matches(&self, text: &[u8]) -> bool {
        let eq = |p: u8, t: u8| p == t || (self.fold && p == t.to_ascii_lowercase());
        if self.literal {
            return self.pattern.len() == text.len()
                && self.pattern.iter().zip(text).all(|(&p, &t)| eq(p, t));
        }
        let (p, t) = (&self.pattern, text);
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == b'?' || (p[pi] != b'*' && eq(p[pi], t[ti]))) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&b| b == b'*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stars_and_question_marks() {
        let g = Glob::exact("/api/*");
        assert!(g.matches(b"/api/") && g.matches(b"/api/v1/users"));
        assert!(!g.matches(b"/api") && !g.matches(b"/API/x"));
        let g = Glob::folded("*.example.com");
        assert!(g.matches(b"www.EXAMPLE.com") && !g.matches(b"example.com"));
        let g = Glob::exact("/a?c");
        assert!(g.matches(b"/abc") && !g.matches(b"/ac") && !g.matches(b"/abbc"));
        assert!(Glob::exact("*").matches(b"") && Glob::exact("**").matches(b"x"));
        assert!(
            Glob::exact("/a*b*c").matches(b"/aXXbYYc")
                && !Glob::exact("/a*b*c").matches(b"/aXXcYYb")
        );
        assert_eq!(Glob::exact("/x").as_literal(), Some("/x"));
        assert_eq!(Glob::exact("/x*").as_literal(), None);
    }

    /// The obvious recursive definition, to check the fast one against.
    fn reference(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => reference(&p[1..], t) || (!t.is_empty() && reference(p, &t[1..])),
            (Some(b'?'), Some(_)) => reference(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => reference(&p[1..], &t[1..]),
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_recursive_definition(p in "[ab*?]{0,8}", t in "[ab]{0,10}") {
            prop_assert_eq!(Glob::exact(&p).matches(t.as_bytes()), reference(p.as_bytes(), t.as_bytes()));
        }
    }
}
