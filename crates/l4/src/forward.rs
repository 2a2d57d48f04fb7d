//! Relaying a routed client connection to its target: what was read before routing goes
//! first (less what the connect sent with it), then the relay until either side ends, then
//! each side is closed as the ending asks (a reset where a side reset or was cut).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::connect::TargetConn;
use crate::log::ConnLog;
use crate::relay::{relay, RelayEnding};
use crate::snapshot::L4Group;
use crate::stream::{Prefixed, TargetStream};

/// A plain client to a target: when both sockets are plain TCP, the adaptive relay (copy,
/// then splice for bulk); else the generic copy.
pub(crate) async fn forward_plain(
    mut client: TcpStream,
    prelude: Vec<u8>,
    (mut target, group): (TargetConn, Arc<L4Group>),
    idle: Duration,
    mut log: ConnLog,
    fds: &Arc<crate::limits::FdBudget>,
) {
    let TargetStream::Plain(tcp) = &mut target.stream else {
        return forward(client, prelude, (target, group), idle, log).await;
    };
    if let Some(t) = group.targets.get(target.index) {
        log.set_target(t);
    }
    log.connect_time = Some(target.connect_time);
    // What the connect did not send already.
    let unsent = prelude.get(target.early_sent..).unwrap_or_default();
    if !unsent.is_empty() && tcp.write_all(unsent).await.is_err() {
        client.reset();
        return log.finished(RelayEnding::Target, prelude.len() as u64, 0);
    }
    let cut = Arc::clone(&target.cut);
    let splicing = crate::splice::enabled().then_some(fds);
    let end = crate::splice::relay_plain(&mut client, tcp, idle, &cut, splicing).await;
    end_connection(&mut client, tcp, end.ending).await;
    log.finished(
        end.ending,
        end.from_client + prelude.len() as u64,
        end.from_target,
    );
}

/// Ends both sides as the relay's ending asks: resets where a side reset or was cut (a FIN
/// would read as a clean end), a FIN to the client after a clean close or idle timeout.
async fn end_connection<C>(client: &mut C, target: &TcpStream, ending: RelayEnding)
where
    C: AsyncWrite + Unpin + ResetOnDrop,
{
    match ending {
        RelayEnding::Target | RelayEnding::Cut => {
            client.reset();
            let _ = target.set_zero_linger();
        }
        RelayEnding::Client => {
            let _ = target.set_zero_linger();
        }
        // Both directions passed their end on (the last one by closing the sockets, which
        // happens as this connection's streams drop).
        RelayEnding::Closed => {}
        RelayEnding::Idle => {
            let _ = client.shutdown().await;
        }
    }
}

/// Sends what was read before routing, then relays until the connection ends.
pub(crate) async fn forward<C>(
    mut client: C,
    prelude: Vec<u8>,
    (mut target, group): (TargetConn, Arc<L4Group>),
    idle: Duration,
    mut log: ConnLog,
) where
    C: AsyncRead + AsyncWrite + Unpin + ResetOnDrop,
{
    if let Some(t) = group.targets.get(target.index) {
        log.set_target(t);
    }
    log.connect_time = Some(target.connect_time);
    let unsent = prelude.get(target.early_sent..).unwrap_or_default();
    if !unsent.is_empty() {
        if let Err(_error) = target.stream.write_all(unsent).await {
            client.reset();
            return log.finished(RelayEnding::Target, prelude.len() as u64, 0);
        }
    }
    let cut = Arc::clone(&target.cut);
    let end = relay(&mut client, &mut target.stream, idle, &cut).await;
    // A target that reset (or died) is a reset for the client too.
    end_connection(&mut client, target.stream.tcp(), end.ending).await;
    log.finished(
        end.ending,
        end.from_client + prelude.len() as u64,
        end.from_target,
    );
}

/// A client stream that can be told to end with a reset rather than a FIN.
pub(crate) trait ResetOnDrop {
    fn reset(&self);
}

impl ResetOnDrop for TcpStream {
    fn reset(&self) {
        let _ = self.set_zero_linger();
    }
}

impl ResetOnDrop for tokio_rustls::server::TlsStream<Prefixed<TcpStream>> {
    fn reset(&self) {
        let _ = self.get_ref().0.inner().set_zero_linger();
    }
}
