//! A real `grpc.health.v1.Health` server (tonic-health) on 127.0.0.1:0, for gRPC health
//! checks. Served over HTTP/2 cleartext with hyper, as a gRPC service would be.

use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// A running health server. Dropping it stops accepting.
pub struct GrpcHealthServer {
    pub addr: SocketAddr,
    reporter: HealthReporter,
    task: tokio::task::JoinHandle<()>,
}

impl GrpcHealthServer {
    /// A server whose overall status (service `""`) is `SERVING`.
    pub async fn spawn() -> GrpcHealthServer {
        let (reporter, service) = tonic_health::server::health_reporter();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        GrpcHealthServer {
            addr,
            reporter,
            task,
        }
    }

    /// Sets the status of `service` (`""` is the server as a whole).
    pub async fn set(&self, service: &str, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status(service, status).await;
    }
}

impl Drop for GrpcHealthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
