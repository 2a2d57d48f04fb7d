//! A client of Ballast's admin API, for tests: JSON in, status and JSON (or text) out.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;

use crate::client::H1;

/// Talks to one admin listener, with an optional bearer token.
#[derive(Debug, Clone)]
pub struct AdminClient {
    pub addr: SocketAddr,
    pub token: Option<String>,
}

/// An admin answer: status, raw body, and the body as JSON when it is JSON.
#[derive(Debug)]
pub struct AdminReply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub text: String,
    pub json: serde_json::Value,
}

impl AdminClient {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, token: None }
    }

    pub fn with_token(addr: SocketAddr, token: &str) -> Self {
        Self {
            addr,
            token: Some(token.to_owned()),
        }
    }

    /// Sends `method path` with `body` (sent as `content_type`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> AdminReply {
        self.call_with(method, path, content_type, body, &[]).await
    }

    /// [`AdminClient::call`] with more request headers (`If-Match`).
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> AdminReply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", content_type);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        let response = H1::connect(self.addr).await.send(request).await.unwrap();
        let text = String::from_utf8_lossy(response.body()).into_owned();
        AdminReply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            json: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
            text,
        }
    }

    pub async fn get(&self, path: &str) -> AdminReply {
        self.call(Method::GET, path, "application/json", Vec::new())
            .await
    }

    pub async fn delete(&self, path: &str) -> AdminReply {
        self.call(Method::DELETE, path, "application/json", Vec::new())
            .await
    }

    pub async fn put(&self, path: &str, body: &serde_json::Value) -> AdminReply {
        self.call(
            Method::PUT,
            path,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &serde_json::Value) -> AdminReply {
        self.call(
            Method::POST,
            path,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: &serde_json::Value) -> AdminReply {
        self.call(
            Method::PATCH,
            path,
            "application/json-patch+json",
            body.to_string().into_bytes(),
        )
        .await
    }

    /// The value of one sample of `/metrics` (`name{labels}` exactly as rendered), or 0.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self.get("/metrics").await.text;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(sample)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

/// The sample name of a target's series `name`, with `more` labels after its group and
/// address (`""`, or `,ending="closed"`), as `/metrics` writes it.
pub fn target_series(name: &str, group: &str, target: SocketAddr, more: &str) -> String {
    format!("{name}{{target_group=\"{group}\",target=\"{target}\"{more}}}")
}
