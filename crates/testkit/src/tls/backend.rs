//! A TLS backend for tests (re-encryption to `https` target groups).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use super::Issued;

/// A TLS backend on 127.0.0.1:0 serving `certificate`, answering 200 `tls-ok` (with
/// `x-version` naming the HTTP version it was asked in: ALPN offers `h2` and `http/1.1`),
/// recording nothing. Dropping it stops accepting.
pub struct TlsBackend {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsBackend {
    pub async fn spawn(certificate: &Issued) -> TlsBackend {
        let config = certificate.server_config();
        let mut config = config;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service =
                        hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| {
                            let version = format!("{:?}", req.version());
                            async move {
                                let mut response =
                                    http::Response::new(Full::new(Bytes::from_static(b"tls-ok")));
                                response
                                    .headers_mut()
                                    .insert("x-version", version.parse().unwrap());
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        TlsBackend { addr, task }
    }
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}
