//! Opening a connection to a target: TCP within the connect timeout, then TLS for `https`
//! groups. Running out of Ballast's own file descriptors is told apart from a target that
//! refuses, so the target is not blamed for it.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{Destination, Upstream, UpstreamIo};
use crate::buf::Buf;
use crate::fault::ConnectError;
use crate::limits::{is_resource_exhaustion, FdBudget};

/// Opens a connection to `to` within `timeout` (TLS handshake included).
pub(crate) async fn connect(
    to: Destination<'_>,
    timeout: Duration,
    fds: &Arc<FdBudget>,
) -> Result<Upstream, ConnectError> {
    let fd = fds.acquire().ok_or(ConnectError::Exhausted(None))?;
    let address = to.address;
    let deadline = Instant::now() + timeout;
    let mut stream = match tokio::time::timeout_at(deadline, TcpStream::connect(address)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) if is_resource_exhaustion(&e) => return Err(ConnectError::Exhausted(Some(e))),
        Ok(Err(e)) => return Err(ConnectError::Io(e)),
        Err(_) => return Err(ConnectError::Timeout),
    };
    if let Err(error) = stream.set_nodelay(true) {
        // Only fails on a socket that is already dead; the request will say how.
        tracing::debug!(target_address = %address, %error, "set_nodelay failed");
    }
    if let Some(proxy) = to.proxy {
        // Before TLS, as HAProxy's `send-proxy`: the target reads it off the TCP stream.
        let mut header = Vec::with_capacity(64);
        let no_tlvs = ballast_l4::proxy_protocol::Tlvs::default();
        ballast_l4::proxy_protocol::encode(proxy.version, &proxy.addresses, &no_tlvs, &mut header);
        match tokio::time::timeout_at(deadline, stream.write_all(&header)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(ConnectError::Io(e)),
            Err(_) => return Err(ConnectError::Timeout),
        }
    }
    let io = match to.tls {
        None => UpstreamIo::Plain(stream),
        Some(tls) => {
            let name = match &tls.server_name {
                Some(name) => ServerName::try_from(name.clone()).map_err(|e| {
                    ConnectError::Tls(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
                })?,
                None => ServerName::IpAddress(address.ip().into()),
            };
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(&tls.client));
            // The connect timeout covers the TLS handshake too (ALB: 10 s for both).
            match tokio::time::timeout_at(deadline, connector.connect(name, stream)).await {
                Ok(Ok(stream)) => UpstreamIo::Tls(Box::new(stream)),
                Ok(Err(error)) => return Err(ConnectError::Tls(error)),
                Err(_) => return Err(ConnectError::Timeout),
            }
        }
    };
    Ok(Upstream {
        io,
        buf: Buf::default(),
        cut: to.pool.track(),
        reused: false,
        idle_since: std::time::Instant::now(),
        owner: to.proxy.map(|p| Box::new(*p)),
        // Counted open while it lives, for least_connections.
        _open: to.state.open_connection(),
        _fd: fd,
    })
}
