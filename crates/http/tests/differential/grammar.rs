//! The generated heads: risky parts mixed on purpose, valid ones drawn most often so that
//! the field section, not the request line, decides most cases.

use std::fmt;

use proptest::prelude::*;
use proptest::sample::select;

/// A generated request: a head built from risky parts, then bytes that may be its body or
/// a request smuggled after it.
#[derive(Clone)]
pub(crate) struct Case {
    leading: &'static str,
    method: &'static str,
    sp1: &'static str,
    target: &'static [u8],
    sp2: &'static str,
    version: &'static str,
    eol: &'static str,
    host: Vec<Line>,
    fields: Vec<Line>,
    end: &'static str,
    body: &'static [u8],
}

/// One line of the field section.
#[derive(Clone, Debug)]
struct Line {
    name: &'static str,
    sep: &'static str,
    value: Vec<u8>,
    eol: &'static str,
}

impl Case {
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let line = [self.leading, self.method, self.sp1];
        out.extend(line.iter().flat_map(|s| s.bytes()));
        out.extend_from_slice(self.target);
        out.extend(
            [self.sp2, self.version, self.eol]
                .iter()
                .flat_map(|s| s.bytes()),
        );
        let (host, rest) = self.host.split_at(self.host.len().min(1));
        for l in host.iter().chain(&self.fields).chain(rest) {
            out.extend_from_slice(l.name.as_bytes());
            out.extend_from_slice(l.sep.as_bytes());
            out.extend_from_slice(&l.value);
            out.extend_from_slice(l.eol.as_bytes());
        }
        out.extend_from_slice(self.end.as_bytes());
        out.extend_from_slice(self.body);
        out
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.bytes().escape_ascii())
    }
}

pub(crate) fn case() -> impl Strategy<Value = Case> {
    let line = (
        select(&["", "", "", "", "", "", "\r\n", "\n"][..]),
        select(METHODS),
        separator(),
        select(TARGETS),
        separator(),
        select(VERSIONS),
        eol(),
    );
    let hosts = prop_oneof![
        1 => Just(Vec::new()),
        6 => host().prop_map(|h| vec![h]),
        1 => (host(), host()).prop_map(|(a, b)| vec![a, b]),
    ];
    let fields = prop::collection::vec(field(), 0..5);
    let end = prop_oneof![12 => Just("\r\n"), 3 => Just("\n"), 1 => Just("\r"), 1 => Just("")];
    (line, hosts, fields, end, select(BODIES)).prop_map(
        |((leading, method, sp1, target, sp2, version, eol), host, fields, end, body)| Case {
            leading,
            method,
            sp1,
            target,
            sp2,
            version,
            eol,
            host,
            fields,
            end,
            body,
        },
    )
}

const METHODS: &[&str] = &[
    "GET", "GET", "POST", "POST", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "PATCH", "TRACE",
    "CONNECT", "get", "FOO", "G(T", "",
];

const TARGETS: &[&[u8]] = &[
    b"/",
    b"/",
    b"/",
    b"/a/b",
    b"/a?b=1&c",
    b"/p#frag",
    b"/a?b#c?d",
    b"/%2e%2e/x",
    b"//double",
    b"/a;b",
    b"/\"q\"",
    b"/{x}",
    b"/<x>",
    b"/a\\b",
    b"/`",
    b"/^|",
    b"/caf\xc3\xa9",
    b"/\xff",
    b"/?q=<x>",
    b"/?q=\"x\"",
    b"http://example.com/p",
    b"HTTP://example.com",
    b"http://example.com?q",
    b"https://example.com:443/p?q",
    b"http://example.com#f",
    b"http://[::1]:8080/a",
    b"http://u:p@h/",
    b"ftp://h/",
    b"http:///x",
    b"http://h:99999/",
    b"http://h:/",
    b"http://caf%C3%A9.example/",
    b"http://[v1.fe80::a+en1]/",
    b"http://a_b/",
    b"example.com:443",
    b"example.com",
    b"*",
    b"",
    b"a",
    b"/a b",
];

// Valid versions dominate so that most heads get past the request line and the field
// section decides; the odd ones are still drawn often enough.
const VERSIONS: &[&str] = &[
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.0",
    "HTTP/1.0",
    "HTTP/1.0",
    "HTTP/1.0",
    "http/1.1",
    "HTTP/1.2",
    "HTTP/2.0",
    "HTTP/1.1 ",
    "HTTP/1",
    "HTTP/0.9",
];

/// Bodies: none, raw bytes, well-formed chunked ones, and requests riding behind.
const BODIES: &[&[u8]] = &[
    b"",
    b"hello",
    b"hello world, and more",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"0\r\n\r\n",
    b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
];

fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![60 => Just(" "), 1 => Just("  "), 1 => Just("\t"), 1 => Just("")]
}

fn eol() -> impl Strategy<Value = &'static str> {
    prop_oneof![40 => Just("\r\n"), 6 => Just("\n"), 1 => Just("\r"), 1 => Just("\r\r\n")]
}

fn colon() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        40 => Just(": "),
        8 => Just(":"),
        1 => Just(":  "),
        1 => Just(":\t"),
        1 => Just(" :"),
        1 => Just("\t:"),
        1 => Just(": \t"),
    ]
}

fn host() -> impl Strategy<Value = Line> {
    let name = select(&["Host", "Host", "Host", "host", "HOST", "Ho_st"][..]);
    let value = select(
        &[
            "example.com",
            "example.com",
            "example.com:8080",
            "",
            "a b",
            "[::1]",
            "h:99999",
            "u@h",
        ][..],
    );
    (name, colon(), value, eol()).prop_map(|(name, sep, value, eol)| Line {
        name,
        sep,
        value: value.as_bytes().to_vec(),
        eol,
    })
}

fn field() -> impl Strategy<Value = Line> {
    let length = (select(LENGTH_NAMES), colon(), length_value(), eol());
    let coding = (select(CODING_NAMES), colon(), coding_value(), eol());
    let other = (select(OTHER_NAMES), colon(), select(OTHER_VALUES), eol())
        .prop_map(|(n, s, v, e)| (n, s, v.to_vec(), e));
    // A line that starts with white space continues the one before it (obs-fold).
    let fold = (select(&[" ", "\t"][..]), select(FOLDED), eol())
        .prop_map(|(ws, v, e)| (ws, "", v.as_bytes().to_vec(), e));
    prop_oneof![4 => length, 4 => coding, 2 => other, 1 => fold].prop_map(
        |(name, sep, value, eol)| Line {
            name,
            sep,
            value,
            eol,
        },
    )
}

const LENGTH_NAMES: &[&str] = &[
    "Content-Length",
    "Content-Length",
    "Content-Length",
    "content-length",
    "CONTENT-LENGTH",
    "Content-length",
    "Content_Length",
    "content_length",
    "Content-Lengt",
    "X-Content-Length",
    " Content-Length",
];

const CODING_NAMES: &[&str] = &[
    "Transfer-Encoding",
    "Transfer-Encoding",
    "Transfer-Encoding",
    "transfer-encoding",
    "TRANSFER-ENCODING",
    "Transfer-encoding",
    "Transfer_Encoding",
    "transfer_encoding",
    "Transfer-Encodin",
    "X-Transfer-Encoding",
    " Transfer-Encoding",
    "TE",
];

const OTHER_NAMES: &[&str] = &[
    "X-Foo",
    "Connection",
    "Expect",
    "Upgrade",
    "Trailer",
    "Content-Type",
    "Keep-Alive",
];

const OTHER_VALUES: &[&[u8]] = &[
    b"close",
    b"keep-alive",
    b"100-continue",
    b"websocket",
    b"Transfer-Encoding",
    b"Content-Length",
    b"chunked",
    b"5",
    b"",
    b"a\tb",
    b"\x80\xff",
];

const FOLDED: &[&str] = &[
    "chunked",
    "gzip",
    "5",
    ", chunked",
    "Transfer-Encoding: chunked",
];

fn length_value() -> impl Strategy<Value = Vec<u8>> {
    let odd = select(
        &[
            "",
            " ",
            "+5",
            "-5",
            "0x5",
            "5 5",
            "5;",
            "1e3",
            "5.0",
            "\u{0665}",
            "5\t",
            "00005",
            "18446744073709551615",
            "18446744073709551616",
            "18446744073709551614",
            "4611686018427387904",
            "4611686018427387905",
            "99999999999999999999",
            "00000000000000000000005",
            "5,",
            ",5",
            "5,,5",
        ][..],
    );
    let list_sep = select(&[",", ", ", " , ", ",\t"][..]);
    prop_oneof![
        6 => (0u64..20).prop_map(|n| n.to_string()),
        3 => odd.prop_map(str::to_string),
        2 => (0u64..20, list_sep.clone()).prop_map(|(n, sep)| format!("{n}{sep}{n}")),
        1 => (0u64..20, list_sep, 0u64..20).prop_map(|(a, sep, b)| format!("{a}{sep}{b}")),
        1 => "[0-9]{15,25}",
    ]
    .prop_map(String::into_bytes)
}

fn coding_value() -> impl Strategy<Value = Vec<u8>> {
    let coding = select(
        &[
            "chunked",
            "chunked",
            "chunked",
            "Chunked",
            "CHUNKED",
            "cHuNkEd",
            "gzip",
            "identity",
            "deflate",
            "",
            "\"chunked\"",
            "chunked;q=1",
            "xchunked",
            "chunkedx",
            "chunk ed",
        ][..],
    );
    let list_sep = select(&[", ", ",", " , ", ",\t"][..]);
    (prop::collection::vec(coding, 1..4), list_sep)
        .prop_map(|(codings, sep)| codings.join(sep).into_bytes())
}
