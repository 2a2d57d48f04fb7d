//! The HTTPS client the ACME protocol runs over: one connection per request (an issuance is
//! a dozen requests, a pool would buy nothing), HTTP/1.1 over rustls with the ring provider,
//! trusting the system's roots or the configured `ca` bundle.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A request to the CA (connect, handshake, answer) taking longer than this fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// instant-acme's HTTP client seam, filled with our TLS stack rather than hyper-rustls and
/// the platform verifier (which would bring a second root store and provider choice).
pub(crate) struct HttpsClient {
    tls: TlsConnector,
}

impl HttpsClient {
    /// A client verifying the CA's certificate against `ca`, or the system's roots.
    pub(crate) fn new(ca: Option<&Path>) -> Result<Self, ballast_tls::TlsError> {
        let config = ballast_tls::build_client_config(true, ca)?;
        Ok(Self {
            tls: TlsConnector::from(config),
        })
    }
}

impl HttpClient for HttpsClient {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let tls = self.tls.clone();
        Box::pin(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, send(tls, req)).await {
                Ok(result) => result,
                Err(_) => Err(other(format!("no answer within {REQUEST_TIMEOUT:?}"))),
            }
        })
    }
}

async fn send(
    tls: TlsConnector,
    mut req: Request<BodyWrapper<Bytes>>,
) -> Result<BytesResponse, instant_acme::Error> {
    let uri = req.uri().clone();
    if uri.scheme_str() != Some("https") {
        return Err(other(format!("{uri}: not an https URL")));
    }
    let (Some(host), Some(authority)) = (uri.host(), uri.authority()) else {
        return Err(other(format!("{uri}: no host")));
    };
    let port = uri.port_u16().unwrap_or(443);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(bare.to_owned())
        .map_err(|e| other(format!("{uri}: bad server name: {e}")))?;
    let tcp = TcpStream::connect((bare, port))
        .await
        .map_err(|e| other(format!("{authority}: cannot connect: {e}")))?;
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|e| other(format!("{authority}: TLS handshake failed: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| other(format!("{authority}: {e}")))?;
    tokio::spawn(async move {
        if let Err(error) = conn.await {
            tracing::debug!(%error, "ACME connection ended with an error");
        }
    });
    let host_header = HeaderValue::from_str(authority.as_str())
        .map_err(|e| other(format!("{authority}: {e}")))?;
    req.headers_mut().insert(HOST, host_header);
    *req.uri_mut() = uri
        .path_and_query()
        .cloned()
        .map_or_else(|| Uri::from_static("/"), Uri::from);
    let response = sender
        .send_request(req)
        .await
        .map_err(|e| other(format!("{uri}: {e}")))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| other(format!("{uri}: reading the answer: {e}")))?
        .to_bytes();
    Ok(BytesResponse::from(Response::from_parts(
        parts,
        Full::new(body),
    )))
}

fn other(message: String) -> instant_acme::Error {
    instant_acme::Error::Other(message.into())
}
