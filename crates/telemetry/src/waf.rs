//! The counters of a web application firewall rule set: matches per rule, and the
//! requests no rule decided, by the default action they met.

use std::sync::Arc;

use crate::metrics::Counter;

/// One `[waf]` set's counters. Replaced when its rules change (counts of rules kept carry).
#[derive(Debug, Default)]
pub struct WafMetrics {
    /// Each rule in evaluation order: its name, its action (`allow`, `block`, `count`) and
    /// the requests it matched.
    pub rules: Vec<(Arc<str>, &'static str, Counter)>,
    /// Requests no rule decided that the default action let through.
    pub default_allowed: Counter,
    /// Requests no rule decided that the default action blocked.
    pub default_blocked: Counter,
}

impl WafMetrics {
    /// Counters for these rules, all at zero.
    pub fn with_rules(rules: Vec<(Arc<str>, &'static str)>) -> Self {
        Self {
            rules: rules
                .into_iter()
                .map(|(name, action)| (name, action, Counter::default()))
                .collect(),
            ..Self::default()
        }
    }

    /// Counts a match of rule `i` (its position in evaluation order).
    pub fn matched(&self, i: usize) {
        if let Some((_, _, c)) = self.rules.get(i) {
            c.inc();
        }
    }

    /// Counts a request the default action decided.
    pub fn defaulted(&self, blocked: bool) {
        match blocked {
            true => self.default_blocked.inc(),
            false => self.default_allowed.inc(),
        }
    }
}
