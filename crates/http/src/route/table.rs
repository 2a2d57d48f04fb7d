//! The compiled rules of one listener and how a request finds its rule.
//!
//! Built when a snapshot is built: every glob compiled, every CIDR parsed, and the rules
//! indexed so a request does not test them one by one. A rule is filed under each of its
//! literal hosts, or under the literal domain its wildcard hosts end in (`*.example.com` →
//! `.example.com`); a rule without hosts, under the literal first one or two segments of its
//! paths (`/api/v1/*` → `api/v1`); the rest form one list. A request consults the lists of
//! its host, of each domain suffix of its host, of its first one and two path segments, and
//! the rest — each sorted by priority — and merges them, testing only those candidates:
//! first match wins.

use std::collections::HashMap;
use std::net::IpAddr;

use ballast_config::{CidrSet, Conditions};
use http::HeaderName;

use crate::head::FieldLookup;

use super::glob::Glob;

/// The rules of a listener, compiled, with an action of type `A` each.
#[derive(Debug)]
pub struct RuleTable<A> {
    rules: Vec<CompiledRule<A>>,
    /// Rules whose hosts are literal, by host.
    by_host: HashMap<Box<[u8]>, Vec<u32>>,
    /// Rules whose hosts are literal and whose paths have a path key, by `host \0 key`: the
    /// common "one host, many paths" setup tests only the rules of the request's path.
    by_host_path: HashMap<Box<[u8]>, Vec<u32>>,
    /// Rules whose host globs end in a literal domain (`*.example.com`), by that suffix
    /// (`.example.com`).
    by_host_suffix: HashMap<Box<[u8]>, Vec<u32>>,
    /// Rules without host conditions whose paths start with literal segments, by the first
    /// one or two of them (`api`, `api/v1`).
    by_path: HashMap<Box<[u8]>, Vec<u32>>,
    rest: Vec<u32>,
    /// Some rule has a `source_ip` condition: the caller must work out the client address.
    needs_source_ip: bool,
}

/// What a rule is matched against, borrowed from the request.
#[derive(Clone, Copy)]
pub struct RequestView<'a> {
    /// The host, without port, in any case.
    pub host: &'a [u8],
    /// The path, without the query.
    pub path: &'a [u8],
    /// The method.
    pub method: &'a str,
    /// The query string without `?` (empty when none).
    pub query: &'a [u8],
    /// The request's header fields.
    pub headers: &'a dyn FieldLookup,
    /// The client's address (only read by `source_ip` conditions); `None` when it cannot be
    /// told (a garbled `X-Forwarded-For` from a trusted proxy): no block matches it.
    pub client_ip: Option<IpAddr>,
}

#[derive(Debug)]
struct CompiledRule<A> {
    priority: u32,
    host: Vec<Glob>,
    path: Vec<Glob>,
    header: Vec<(HeaderName, Vec<Glob>)>,
    method: Vec<Box<str>>,
    query: Vec<(Glob, Vec<Glob>)>,
    /// Compiled to sorted ranges: a condition naming a large IP set is a binary search.
    source_ip: CidrSet,
    action: A,
}

impl<A> RuleTable<A> {
    /// Compiles `rules` (sorted by priority) with their actions.
    pub fn build(rules: impl IntoIterator<Item = (u32, Conditions, A)>) -> Self {
        let mut compiled: Vec<CompiledRule<A>> = rules
            .into_iter()
            .map(|(priority, c, action)| CompiledRule {
                priority,
                host: c.host.iter().map(|h| Glob::folded(h)).collect(),
                path: c.path.iter().map(|p| Glob::exact(p)).collect(),
                header: c
                    .header
                    .iter()
                    .filter_map(|h| {
                        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
                        Some((name, h.values.iter().map(|v| Glob::folded(v)).collect()))
                    })
                    .collect(),
                method: c.method.iter().map(|m| m.as_str().into()).collect(),
                query: c
                    .query
                    .iter()
                    .map(|q| {
                        (
                            Glob::folded(&q.key),
                            q.values.iter().map(|v| Glob::folded(v)).collect(),
                        )
                    })
                    .collect(),
                source_ip: CidrSet::new(&c.source_ip),
                action,
            })
            .collect();
        compiled.sort_by_key(|r| r.priority);
        let mut table = Self {
            needs_source_ip: compiled.iter().any(|r| !r.source_ip.is_empty()),
            rules: compiled,
            by_host: HashMap::new(),
            by_host_path: HashMap::new(),
            by_host_suffix: HashMap::new(),
            by_path: HashMap::new(),
            rest: Vec::new(),
        };
        let keys: Vec<Keys> = table.rules.iter().map(rule_keys).collect();
        for (index, keys) in keys.into_iter().enumerate() {
            table.file(index as u32, keys);
        }
        table
    }

    fn file(&mut self, index: u32, keys: Keys) {
        let add = |map: &mut HashMap<Box<[u8]>, Vec<u32>>, key: &[u8]| {
            let list = map.entry(key.into()).or_default();
            if list.last() != Some(&index) {
                list.push(index);
            }
        };
        match keys {
            Keys::Hosts(hosts, paths) => {
                for (key, suffix) in hosts {
                    match (&paths, suffix) {
                        (_, true) => add(&mut self.by_host_suffix, &key),
                        (Some(paths), false) => {
                            for path in paths {
                                add(&mut self.by_host_path, &host_path_key(&key, path));
                            }
                        }
                        (None, false) => add(&mut self.by_host, &key),
                    }
                }
            }
            Keys::Paths(paths) => paths.into_iter().for_each(|k| add(&mut self.by_path, &k)),
            Keys::None => self.rest.push(index),
        }
    }

    /// Whether matching needs the client's address (worked out only then).
    pub fn needs_source_ip(&self) -> bool {
        self.needs_source_ip
    }

    /// Whether there is any rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The action and priority of the first rule, by priority, that `req` matches.
    pub fn find(&self, req: &RequestView<'_>) -> Option<(&A, u32)> {
        if self.rules.is_empty() {
            return None;
        }
        let mut lower = [0u8; 256];
        if req.host.len() > lower.len() {
            // Longer than any DNS name: test every rule rather than index a truncation.
            return self.scan(req);
        }
        let host: &[u8] = {
            let out = &mut lower[..req.host.len()];
            for (o, b) in out.iter_mut().zip(req.host) {
                *o = b.to_ascii_lowercase();
            }
            out
        };
        // Every list that may hold a rule this request matches; each sorted by priority.
        let mut lists: [&[u32]; MAX_LISTS] = [&[]; MAX_LISTS];
        let mut n = 0;
        let mut fits = push(&mut lists, &mut n, self.by_host.get(host));
        if !self.by_host_path.is_empty() {
            let (one, two) = path_prefixes(req.path);
            for prefix in [Some(one), two].into_iter().flatten() {
                let mut buffer = [0u8; 512];
                let len = host.len() + 1 + prefix.len();
                if len > buffer.len() {
                    // Too long to look up: test every rule rather than miss one.
                    return self.scan(req);
                }
                buffer[..host.len()].copy_from_slice(host);
                buffer[host.len() + 1..len].copy_from_slice(prefix);
                fits &= push(&mut lists, &mut n, self.by_host_path.get(&buffer[..len]));
            }
        }
        if !self.by_host_suffix.is_empty() {
            // Every domain suffix, however many labels: a wildcard rule must not be skipped
            // because a client added labels.
            for (i, _) in host.iter().enumerate().filter(|(_, b)| **b == b'.') {
                fits &= push(&mut lists, &mut n, self.by_host_suffix.get(&host[i..]));
            }
        }
        if !self.by_path.is_empty() {
            let (one, two) = path_prefixes(req.path);
            fits &= push(&mut lists, &mut n, self.by_path.get(one));
            if let Some(two) = two {
                fits &= push(&mut lists, &mut n, self.by_path.get(two));
            }
        }
        fits &= push(&mut lists, &mut n, Some(&self.rest));
        if !fits {
            return self.scan(req);
        }
        let mut heads = [0usize; MAX_LISTS];
        loop {
            // The lowest index among the lists' heads: the next candidate by priority.
            let next = (0..n)
                .filter_map(|l| lists[l].get(heads[l]))
                .min()
                .copied()?;
            for l in 0..n {
                if lists[l].get(heads[l]) == Some(&next) {
                    heads[l] += 1;
                }
            }
            let rule = &self.rules[next as usize];
            if rule.matches(req) {
                return Some((&rule.action, rule.priority));
            }
        }
    }
}

/// Adds a non-empty list; `false` when there is no room (the caller then scans every rule).
fn push<'a>(lists: &mut [&'a [u32]; MAX_LISTS], n: &mut usize, list: Option<&'a Vec<u32>>) -> bool {
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return true;
    };
    if *n == MAX_LISTS {
        return false;
    }
    lists[*n] = list;
    *n += 1;
    true
}

/// Most candidate lists one request merges (host, domain suffixes with rules, two path
/// keys, the rest); beyond, the request scans every rule.
const MAX_LISTS: usize = 16;

/// Where a rule is filed.
enum Keys {
    /// Under each host (`false`) or domain suffix (`true`); literal hosts together with the
    /// path keys, when the rule has them.
    Hosts(Vec<(Vec<u8>, bool)>, Option<Vec<Vec<u8>>>),
    /// Under each path key.
    Paths(Vec<Vec<u8>>),
    /// In the list every request consults.
    None,
}

fn rule_keys<A>(rule: &CompiledRule<A>) -> Keys {
    if !rule.host.is_empty() {
        let hosts: Option<Vec<(Vec<u8>, bool)>> = rule
            .host
            .iter()
            .map(|g| host_key(g).map(|(k, suffix)| (k.to_vec(), suffix)))
            .collect();
        let paths: Option<Vec<Vec<u8>>> = (!rule.path.is_empty())
            .then(|| rule.path.iter().map(|g| path_key(g.pattern())).collect())
            .flatten();
        return hosts.map_or(Keys::None, |hosts| Keys::Hosts(hosts, paths));
    }
    if !rule.path.is_empty() {
        let paths: Option<Vec<Vec<u8>>> = rule.path.iter().map(|g| path_key(g.pattern())).collect();
        return paths.map_or(Keys::None, Keys::Paths);
    }
    Keys::None
}

/// `host \0 path-key`, the key of `by_host_path`.
fn host_path_key(host: &[u8], path: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(host.len() + 1 + path.len());
    key.extend_from_slice(host);
    key.push(0);
    key.extend_from_slice(path);
    key
}

/// A host glob's key: itself when literal, or the literal domain after its last wildcard
/// (`*.example.com`, `api-*.example.com` → `.example.com`).
fn host_key(glob: &Glob) -> Option<(&[u8], bool)> {
    if let Some(literal) = glob.as_literal() {
        return Some((literal.as_bytes(), false));
    }
    let pattern = glob.pattern();
    let last = pattern.iter().rposition(|&b| b == b'*' || b == b'?')?;
    let suffix = &pattern[last + 1..];
    (suffix.first() == Some(&b'.') && suffix.len() > 1).then_some((suffix, true))
}

/// A path glob's key: its first one or two segments when they are literal and complete
/// (`/api/v1/*` → `api/v1`, `/api/*` → `api`, `/api` → `api`).
fn path_key(pattern: &[u8]) -> Option<Vec<u8>> {
    let rest = pattern.strip_prefix(b"/")?;
    let mut segments = rest.split(|&b| b == b'/');
    let first = segments.next()?;
    if has_wildcard(first) {
        return None;
    }
    // The second segment counts only if a third one (or the end) follows it untouched.
    let second = segments.next();
    let more = segments.next().is_some();
    match second {
        Some(second) if !has_wildcard(second) && more => {
            let mut key = first.to_vec();
            key.push(b'/');
            key.extend_from_slice(second);
            Some(key)
        }
        _ => Some(first.to_vec()),
    }
}

fn has_wildcard(segment: &[u8]) -> bool {
    segment.iter().any(|&b| b == b'*' || b == b'?')
}

/// The request's first segment, and its first two (`/api/v1/users` → `api`, `api/v1`).
fn path_prefixes(path: &[u8]) -> (&[u8], Option<&[u8]>) {
    let rest = path.strip_prefix(b"/").unwrap_or(path);
    let Some(first_end) = rest.iter().position(|&b| b == b'/') else {
        return (rest, None);
    };
    let after = &rest[first_end + 1..];
    let second_end = after.iter().position(|&b| b == b'/');
    // Two segments are a key only when a '/' follows the second (see `path_key`).
    let two = second_end.map(|end| &rest[..first_end + 1 + end]);
    (&rest[..first_end], two)
}

impl<A> RuleTable<A> {
    /// Every rule in priority order: for requests the index cannot serve (a host longer than
    /// any DNS name, more candidate lists than room for them). Slow, but never wrong.
    fn scan(&self, req: &RequestView<'_>) -> Option<(&A, u32)> {
        self.rules
            .iter()
            .find(|r| r.matches(req))
            .map(|r| (&r.action, r.priority))
    }
}

impl<A> CompiledRule<A> {
    fn matches(&self, req: &RequestView<'_>) -> bool {
        (self.host.is_empty() || self.host.iter().any(|g| g.matches(req.host)))
            && (self.path.is_empty() || self.path.iter().any(|g| g.matches(req.path)))
            && (self.method.is_empty() || self.method.iter().any(|m| &**m == req.method))
            && self.header.iter().all(|(name, values)| {
                req.headers
                    .any_field(name.as_str(), &mut |v| values.iter().any(|g| g.matches(v)))
            })
            && self.query.iter().all(|(key, values)| {
                req.query.split(|&b| b == b'&').any(|pair| {
                    let (k, v) = match pair.iter().position(|&b| b == b'=') {
                        Some(i) => (&pair[..i], &pair[i + 1..]),
                        None => (pair, &b""[..]),
                    };
                    !pair.is_empty() && key.matches(k) && values.iter().any(|g| g.matches(v))
                })
            })
            && (self.source_ip.is_empty()
                || req.client_ip.is_some_and(|ip| self.source_ip.contains(ip)))
    }
}

#[cfg(test)]
mod tests;
