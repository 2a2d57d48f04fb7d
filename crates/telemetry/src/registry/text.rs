//! The Prometheus text exposition format (version 0.0.4): family headers, samples and
//! escaped label values.

use std::fmt::Write as _;

use crate::metrics::{HistogramSnapshot, StatusCounts, LATENCY_BUCKETS_US};

/// Writes metric families into a string, label values escaped.
pub(super) struct Families<'a> {
    out: &'a mut String,
}

impl<'a> Families<'a> {
    pub(super) fn new(out: &'a mut String) -> Self {
        Self { out }
    }

    pub(super) fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn labels(&mut self, labels: &[(&str, &str)], extra: Option<(&str, &str)>) {
        if labels.is_empty() && extra.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(extra) {
            if !first {
                self.out.push(',');
            }
            first = false;
            self.out.push_str(k);
            self.out.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => self.out.push_str("\\\\"),
                    '"' => self.out.push_str("\\\""),
                    '\n' => self.out.push_str("\\n"),
                    c => self.out.push(c),
                }
            }
            self.out.push('"');
        }
        self.out.push('}');
    }

    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    pub(super) fn sample_i(&mut self, name: &str, labels: &[(&str, &str)], value: i64) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    pub(super) fn sample_f(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    pub(super) fn codes(&mut self, name: &str, labels: &[(&str, &str)], counts: &StatusCounts) {
        for (code, n) in counts.seen() {
            let code = code.to_string();
            self.out.push_str(name);
            self.labels(labels, Some(("code", &code)));
            let _ = writeln!(self.out, " {n}");
        }
    }

    pub(super) fn classes(&mut self, name: &str, labels: &[(&str, &str)], classes: [u64; 5]) {
        for (i, n) in classes.iter().enumerate() {
            let class = format!("{}xx", i + 1);
            self.out.push_str(name);
            self.labels(labels, Some(("class", &class)));
            let _ = writeln!(self.out, " {n}");
        }
    }

    pub(super) fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let bucket = format!("{name}_bucket");
        for (i, count) in h.cumulative.iter().enumerate() {
            let le = LATENCY_BUCKETS_US
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |us| format!("{}", *us as f64 / 1e6));
            self.out.push_str(&bucket);
            self.labels(labels, Some(("le", &le)));
            let _ = writeln!(self.out, " {count}");
        }
        self.out.push_str(name);
        self.out.push_str("_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", h.sum_us as f64 / 1e6);
        self.out.push_str(name);
        self.out.push_str("_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", h.count);
    }
}
