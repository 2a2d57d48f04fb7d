//! The public corpus of HTTP desync cases that ships inside AWS's `http_desync_guardian`
//! crate (the classifier behind ALB's desync mitigation modes), read from the crate's own
//! source in the cargo registry, and that crate's analyser as an oracle.
//!
//! Each case is a request in parts (method, URI, version, headers) with the class and
//! reason the classifier gives it. [`DesyncCase::raw`] writes it as bytes on the wire.

use std::path::PathBuf;
use std::process::Command;

use http_desync_guardian::request_analyzer::{HttpHeader, HttpRequestData};
use yaml_rust2::{Yaml, YamlLoader};

/// One request of the corpus with its expected classification.
#[derive(Debug, Clone)]
pub struct DesyncCase {
    /// The corpus file it comes from (`severe.yaml`).
    pub file: String,
    pub name: String,
    pub method: Vec<u8>,
    pub uri: Vec<u8>,
    /// Empty for an HTTP/0.9 request line.
    pub version: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// `Compliant`, `Acceptable`, `Ambiguous` or `Severe`.
    pub class: String,
    /// The classifier's reason code (`BothTeClPresent`).
    pub reason: String,
}

impl DesyncCase {
    /// The request as written on the wire: `name: value` fields, CRLF line endings, no
    /// body, and `Host: example.com` first when the case has no `Host` (HTTP/1.1 requires
    /// one; the classifier does not look at it). A field whose name or value holds CR or
    /// LF becomes more than one line, as it would from a client that wrote it.
    pub fn raw(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.method);
        out.push(b' ');
        out.extend_from_slice(&self.uri);
        if !self.version.is_empty() {
            out.push(b' ');
            out.extend_from_slice(&self.version);
        }
        out.extend_from_slice(b"\r\n");
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(b"host"))
        {
            out.extend_from_slice(b"Host: example.com\r\n");
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Whether the bytes on the wire carry the same request as the parts: no CR, LF or
    /// NUL splits a line, and no name holds the `:` that ends a name. Cases where they do
    /// not are about what another parser made of bytes, and classify differently once
    /// written out.
    pub fn round_trips(&self) -> bool {
        let clean = |b: &[u8]| !b.iter().any(|&c| c == b'\r' || c == b'\n');
        clean(&self.method)
            && clean(&self.uri)
            && clean(&self.version)
            && !self.method.contains(&b' ')
            && !self.version.contains(&b' ')
            && self
                .headers
                .iter()
                .all(|(n, v)| clean(n) && clean(v) && !n.contains(&b':'))
    }

    /// The class and reason AWS's analyser gives the parts.
    pub fn guardian_verdict(&self) -> (String, String) {
        let mut request = HttpRequestData {
            method: &self.method,
            version: &self.version,
            uri: &self.uri,
            headers: self
                .headers
                .iter()
                .map(|(n, v)| HttpHeader::new(n, v))
                .collect(),
        };
        let result = request.analyze_parsed_request();
        (format!("{:?}", result.tier), format!("{:?}", result.reason))
    }
}

/// The class and reason AWS's analyser gives raw request bytes.
pub fn guardian_verdict_raw(raw: &[u8]) -> (String, String) {
    let result = HttpRequestData::analyze_raw_request(raw);
    (format!("{:?}", result.tier), format!("{:?}", result.reason))
}

/// Every case of the corpus, in file order. Panics (a test fixture) when the crate's
/// source cannot be found or read.
pub fn desync_corpus() -> Vec<DesyncCase> {
    let dir = guardian_source().join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).expect("corpus file is UTF-8");
        let docs = YamlLoader::load_from_str(&text).expect("corpus file is YAML");
        let Some(list) = docs.first().and_then(Yaml::as_vec) else {
            continue;
        };
        for case in list {
            cases.push(DesyncCase {
                file: file.clone(),
                name: text_of(&case["name"]),
                method: bytes_of(&case["method"]),
                uri: bytes_of(&case["uri"]),
                version: bytes_of(&case["version"]),
                headers: case["headers"]
                    .as_vec()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (bytes_of(&h["name"]), bytes_of(&h["value"])))
                            .collect()
                    })
                    .unwrap_or_default(),
                class: text_of(&case["expected"]["tier"]),
                reason: text_of(&case["expected"]["reason"]),
            });
        }
    }
    cases
}

/// The directory of the `http_desync_guardian` source cargo downloaded, from
/// `cargo metadata`.
fn guardian_source() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed");
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let manifest = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "http_desync_guardian")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("http_desync_guardian is a dependency of the testkit");
    PathBuf::from(manifest)
        .parent()
        .expect("a manifest has a directory")
        .to_path_buf()
}

fn text_of(y: &Yaml) -> String {
    match y {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(n) => n.to_string(),
        Yaml::Real(r) => r.clone(),
        Yaml::Boolean(b) => b.to_string(),
        _ => String::new(),
    }
}

/// A corpus string as bytes: `\xNN` is one byte (the corpus writes raw bytes that way,
/// inside YAML strings that keep the backslash), `\r` `\n` `\t` `\b` `\f` their control
/// characters, any other escaped character itself.
fn bytes_of(y: &Yaml) -> Vec<u8> {
    let s = text_of(y);
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).expect("\\x escape has two hex digits"));
            }
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('b') => out.push(0x08),
            Some('f') => out.push(0x0c),
            Some(other) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
            None => out.push(b'\\'),
        }
    }
    out
}
