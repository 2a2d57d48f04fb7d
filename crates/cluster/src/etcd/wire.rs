//! The JSON shapes of etcd's gateway (grpc-gateway over the v3 protobufs).
//!
//! The gateway renders protobuf JSON: `bytes` as base64 (standard alphabet, padded),
//! `int64` as strings, and every zero value (0, false, "", empty list) left out. So every
//! answer field here has a default, and integers accept both a string and a number.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};

use super::{Event, KeyValue};

/// Base64 of raw bytes, as the gateway expects them.
pub(super) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The end of the range holding every key that starts with `prefix`: the prefix with its
/// last byte below 0xff incremented (etcd's rule). A prefix that is empty or all 0xff has
/// no such end, and `"\0"` means "to the end of the key space".
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The `key` and `range_end` of a request for `key`, or every key under it when `prefix`.
/// etcd rejects an empty key, so the empty prefix (every key) is `"\0"` to `"\0"`.
pub(super) fn key_range(key: &[u8], prefix: bool) -> (String, Option<String>) {
    match (prefix, key.is_empty()) {
        (false, _) => (b64(key), None),
        (true, true) => (b64(&[0]), Some(b64(&[0]))),
        (true, false) => (b64(key), Some(b64(&prefix_end(key)))),
    }
}

/// An int64 as the gateway writes it: a string, or a plain number from older versions.
fn int64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Number(n) => Ok(n),
        Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

fn base64_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    STANDARD.decode(text).map_err(serde::de::Error::custom)
}

// ---- requests ----

#[derive(Serialize)]
pub(super) struct RangeRequest {
    pub(super) key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) range_end: Option<String>,
}

#[derive(Serialize)]
pub(super) struct PutRequest {
    pub(super) key: String,
    pub(super) value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) lease: Option<String>,
}

#[derive(Serialize)]
pub(super) struct DeleteRangeRequest {
    pub(super) key: String,
}

#[derive(Serialize)]
pub(super) struct Compare {
    /// `MOD` (mod_revision) or `CREATE` (create_revision).
    pub(super) target: &'static str,
    pub(super) key: String,
    pub(super) result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) mod_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) create_revision: Option<String>,
}

#[derive(Serialize)]
pub(super) enum RequestOp {
    #[serde(rename = "request_put")]
    Put(PutRequest),
    #[serde(rename = "request_range")]
    Range(RangeRequest),
}

#[derive(Serialize)]
pub(super) struct TxnRequest {
    pub(super) compare: Vec<Compare>,
    pub(super) success: Vec<RequestOp>,
    pub(super) failure: Vec<RequestOp>,
}

#[derive(Serialize)]
pub(super) struct LeaseGrantRequest {
    #[serde(rename = "TTL")]
    pub(super) ttl: String,
}

#[derive(Serialize)]
pub(super) struct LeaseIdRequest {
    #[serde(rename = "ID")]
    pub(super) id: String,
}

#[derive(Serialize)]
pub(super) struct AuthenticateRequest<'a> {
    pub(super) name: &'a str,
    pub(super) password: &'a str,
}

#[derive(Serialize)]
pub(super) struct WatchRequest {
    pub(super) create_request: WatchCreateRequest,
}

#[derive(Serialize)]
pub(super) struct WatchCreateRequest {
    pub(super) key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) range_end: Option<String>,
    pub(super) start_revision: String,
    /// Periodic empty answers on a quiet watch, so the stream is not silent forever.
    pub(super) progress_notify: bool,
}

// ---- answers ----

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct Header {
    #[serde(deserialize_with = "int64")]
    pub(super) revision: i64,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct WireKv {
    #[serde(deserialize_with = "base64_bytes")]
    key: Vec<u8>,
    #[serde(deserialize_with = "base64_bytes")]
    value: Vec<u8>,
    #[serde(deserialize_with = "int64")]
    create_revision: i64,
    #[serde(deserialize_with = "int64")]
    mod_revision: i64,
    #[serde(deserialize_with = "int64")]
    lease: i64,
}

impl From<WireKv> for KeyValue {
    fn from(kv: WireKv) -> KeyValue {
        KeyValue {
            key: kv.key,
            value: kv.value,
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            lease: kv.lease,
        }
    }
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct RangeResponse {
    pub(super) header: Header,
    pub(super) kvs: Vec<WireKv>,
}

/// The answer of put, delete and revoke, of which only the revision is used.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct HeaderOnly {
    pub(super) header: Header,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct ResponseOp {
    pub(super) response_range: Option<RangeResponse>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct TxnResponse {
    pub(super) header: Header,
    pub(super) succeeded: bool,
    pub(super) responses: Vec<ResponseOp>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct LeaseGrantResponse {
    #[serde(rename = "ID", deserialize_with = "int64")]
    pub(super) id: i64,
    pub(super) error: String,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct LeaseKeepAliveResponse {
    #[serde(rename = "TTL", deserialize_with = "int64")]
    pub(super) ttl: i64,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct AuthenticateResponse {
    pub(super) token: String,
}

/// One object of a streamed answer (watch, keepalive): a result or an error.
#[derive(Deserialize, Debug)]
pub(super) struct StreamLine<T> {
    pub(super) result: Option<T>,
    pub(super) error: Option<ErrorBody>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct WatchResponse {
    pub(super) created: bool,
    pub(super) canceled: bool,
    #[serde(deserialize_with = "int64")]
    pub(super) compact_revision: i64,
    pub(super) cancel_reason: String,
    pub(super) events: Vec<WireEvent>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct WireEvent {
    /// Absent for PUT, the zero value of the enum.
    #[serde(rename = "type")]
    kind: String,
    kv: WireKv,
}

impl WireEvent {
    pub(super) fn into_event(self) -> Event {
        match self.kind.as_str() {
            "DELETE" => Event::Delete {
                key: self.kv.key,
                mod_revision: self.kv.mod_revision,
            },
            _ => Event::Put(self.kv.into()),
        }
    }
}

/// An error as the gateway writes it: a unary answer's body
/// (`{"error":"..","code":N,"message":".."}`) or a stream's error object
/// (`{"grpc_code":N,"http_code":N,"message":"..","http_status":".."}`).
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct ErrorBody {
    #[serde(deserialize_with = "int64")]
    pub(super) code: i64,
    #[serde(deserialize_with = "int64")]
    pub(super) grpc_code: i64,
    #[serde(deserialize_with = "int64")]
    pub(super) http_code: i64,
    pub(super) message: String,
}

impl ErrorBody {
    /// The gRPC code, whichever of the two shapes carried it.
    pub(super) fn grpc_code(&self) -> i64 {
        if self.code != 0 {
            self.code
        } else {
            self.grpc_code
        }
    }
}
