//! HTTP/1.1 to etcd's members: endpoint parsing, TLS, one fresh connection per request,
//! and failover across the endpoints.
//!
//! A fresh connection per request keeps this simple and robust (no stale pooled
//! connection to a restarted member); the cluster module makes a few requests a second at
//! most.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use super::{EtcdError, EtcdOptions};

/// The most a unary answer may hold (a range over many keys can be large; etcd's own
/// default request limit is 1.5 MiB a value).
const MAX_ANSWER: usize = 64 << 20;

/// etcd's default client port, when an endpoint names none.
const DEFAULT_PORT: u16 = 2379;

/// One member's client URL.
pub(super) struct Endpoint {
    url: String,
    host: String,
    port: u16,
    /// `Some` for https: the name the certificate must carry.
    server_name: Option<ServerName<'static>>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl Endpoint {
    pub(super) fn parse(url: &str) -> Result<Endpoint, EtcdError> {
        let bad = |why: &str| EtcdError::Config(format!("etcd endpoint {url:?}: {why}"));
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("the scheme must be http or https")),
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("a client URL has no path"));
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        // An IPv6 literal comes bracketed out of the URL; neither a socket address
        // lookup nor a TLS name wants the brackets.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let server_name = if tls {
            let name = ServerName::try_from(host.clone()).map_err(|_| bad("not a TLS name"))?;
            Some(name)
        } else {
            None
        };
        Ok(Endpoint {
            url: url.trim_end_matches('/').to_owned(),
            port: uri.port_u16().unwrap_or(DEFAULT_PORT),
            host,
            server_name,
        })
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The TLS client of the https endpoints, from the options' files; `None` when every
/// endpoint is plain http.
pub(super) fn tls_connector(
    options: &EtcdOptions,
    endpoints: &[Endpoint],
) -> Result<Option<TlsConnector>, EtcdError> {
    if endpoints.iter().all(|e| e.server_name.is_none()) {
        return Ok(None);
    }
    let Some(ca) = &options.ca else {
        // No system roots in the tree: an https endpoint must name its CA.
        return Err(EtcdError::Config(
            "an https etcd endpoint needs a CA file (ca)".into(),
        ));
    };
    let file_error = |path: &std::path::Path, e: &dyn fmt::Display| {
        EtcdError::Config(format!("{}: {e}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| file_error(ca, &e))? {
        let cert = cert.map_err(|e| file_error(ca, &e))?;
        roots.add(cert).map_err(|e| file_error(ca, &e))?;
    }
    if roots.is_empty() {
        return Err(file_error(ca, &"no certificate in the file"));
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| EtcdError::Config(format!("TLS: {e}")))?
    .with_root_certificates(roots);
    let mut config = match (&options.cert, &options.key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| file_error(cert, &e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| file_error(cert, &e))?;
            if chain.is_empty() {
                return Err(file_error(cert, &"no certificate in the file"));
            }
            let private = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, &e))?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| file_error(cert, &e))?
        }
        _ => {
            return Err(EtcdError::Config(
                "an etcd client certificate needs both cert and key".into(),
            ))
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsConnector::from(Arc::new(config))))
}

/// Aborts the task driving a connection when the exchange is over or abandoned.
pub(super) struct ConnTask(JoinHandle<()>);

impl Drop for ConnTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An answer's head, with its body still streaming over the connection kept alive by
/// `conn`.
pub(super) struct Exchange {
    pub(super) response: Response<Incoming>,
    pub(super) conn: ConnTask,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The endpoints and how to reach them.
pub(super) struct Transport {
    endpoints: Vec<Endpoint>,
    /// The endpoint that last answered: the first one tried next time.
    current: AtomicUsize,
    tls: Option<TlsConnector>,
    pub(super) timeout: Duration,
}

impl Transport {
    pub(super) fn new(options: &EtcdOptions) -> Result<Transport, EtcdError> {
        if options.endpoints.is_empty() {
            return Err(EtcdError::Config("no etcd endpoint".into()));
        }
        let endpoints = options
            .endpoints
            .iter()
            .map(|url| Endpoint::parse(url))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = tls_connector(options, &endpoints)?;
        Ok(Transport {
            endpoints,
            current: AtomicUsize::new(0),
            tls,
            timeout: options.timeout,
        })
    }

    pub(super) fn endpoint(&self) -> String {
        let index = self.current.load(Ordering::Relaxed);
        self.endpoints
            .get(index)
            .map(|e| e.url.clone())
            .unwrap_or_default()
    }

    /// POSTs `body` and reads the whole answer, trying each endpoint in turn from the
    /// last one that answered. Each attempt is bounded by the timeout. A member that
    /// answers 503 (no leader, overloaded) counts as failed too: another may serve.
    ///
    /// A request that timed out may still have been applied by that member; trying it
    /// again elsewhere is what etcd's own client does, and every write here is either
    /// idempotent in effect (put, delete) or compare-and-swap (whose caller sees the
    /// conflict and the value there now).
    pub(super) async fn unary(
        &self,
        path: &str,
        body: Bytes,
        token: Option<&str>,
    ) -> Result<(StatusCode, Bytes), EtcdError> {
        let mut unavailable = None;
        let mut last = String::new();
        for index in self.order() {
            let Some(endpoint) = self.endpoints.get(index) else {
                continue;
            };
            // Moved back on success: a caller that gives up during this attempt finds the
            // next endpoint first next time.
            self.skip(index);
            let attempt = async {
                let exchange = self.send(endpoint, path, body.clone(), token).await?;
                let status = exchange.response.status();
                let answer = Limited::new(exchange.response.into_body(), MAX_ANSWER)
                    .collect()
                    .await
                    .map_err(|e| format!("reading the answer: {e}"))?;
                Ok::<_, String>((status, answer.to_bytes()))
            };
            match tokio::time::timeout(self.timeout, attempt).await {
                Ok(Ok((StatusCode::SERVICE_UNAVAILABLE, answer))) => {
                    last = format!("{endpoint}: 503 Service Unavailable");
                    unavailable = Some((StatusCode::SERVICE_UNAVAILABLE, answer));
                }
                Ok(Ok(answer)) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(answer);
                }
                Ok(Err(e)) => last = format!("{endpoint}: {e}"),
                Err(_) => last = format!("{endpoint}: no answer within {:?}", self.timeout),
            }
            tracing::debug!(error = %last, "etcd endpoint failed");
        }
        unavailable.ok_or(EtcdError::Unreachable(last))
    }

    /// POSTs `body` and returns as soon as the answer's head arrives (for a watch),
    /// with the same failover as [`Transport::unary`].
    pub(super) async fn stream(
        &self,
        path: &str,
        body: Bytes,
        token: Option<&str>,
    ) -> Result<Exchange, EtcdError> {
        let mut last = String::new();
        for index in self.order() {
            let Some(endpoint) = self.endpoints.get(index) else {
                continue;
            };
            // Moved back on success: a caller that gives up during this attempt finds the
            // next endpoint first next time.
            self.skip(index);
            let attempt = self.send(endpoint, path, body.clone(), token);
            match tokio::time::timeout(self.timeout, attempt).await {
                Ok(Ok(exchange)) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(exchange);
                }
                Ok(Err(e)) => last = format!("{endpoint}: {e}"),
                Err(_) => last = format!("{endpoint}: no answer within {:?}", self.timeout),
            }
            tracing::debug!(error = %last, "etcd endpoint failed");
        }
        Err(EtcdError::Unreachable(last))
    }

    /// Moves past an endpoint being tried, so that the next request starts at the one after
    /// it even when its caller gives up before this one answered or failed (a caller bounded
    /// by less than `timeout` would otherwise wait on the same dead endpoint every time).
    fn skip(&self, index: usize) {
        let next = (index + 1) % self.endpoints.len().max(1);
        let _ = self
            .current
            .compare_exchange(index, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    fn order(&self) -> impl Iterator<Item = usize> {
        let count = self.endpoints.len();
        let start = self.current.load(Ordering::Relaxed);
        (0..count).map(move |i| (start + i) % count)
    }

    async fn send(
        &self,
        endpoint: &Endpoint,
        path: &str,
        body: Bytes,
        token: Option<&str>,
    ) -> Result<Exchange, String> {
        let io = self.connect(endpoint).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        let conn = ConnTask(tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "etcd connection ended");
            }
        }));
        let mut request = Request::post(path)
            .header(http::header::HOST, endpoint.authority())
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(http::header::AUTHORIZATION, token);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("sending the request: {e}"))?;
        Ok(Exchange { response, conn })
    }

    async fn connect(&self, endpoint: &Endpoint) -> Result<Box<dyn Io>, String> {
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        // Small requests answered one at a time: do not wait to fill a segment.
        let _ = tcp.set_nodelay(true);
        match (&endpoint.server_name, &self.tls) {
            (None, _) => Ok(Box::new(tcp)),
            (Some(name), Some(tls)) => {
                let stream = tls
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                Ok(Box::new(stream))
            }
            // `Transport::new` makes a connector whenever an endpoint is https.
            (Some(_), None) => Err("no TLS configuration".into()),
        }
    }
}
