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
///
/// Not an `async fn`: the future of one keeps its arguments and the locals they are moved
/// into side by side (rust-lang/rust#62958), and this future lives in every plain TCP
/// connection's task for the connection's whole life. The block captures each once.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn's future stores its arguments twice"
)]
pub(crate) fn forward_plain<'a>(
    mut client: TcpStream,
    prelude: Vec<u8>,
    mut routed: (TargetConn, Arc<L4Group>),
    idle: Duration,
    mut log: ConnLog,
    fds: &'a Arc<crate::limits::FdBudget>,
) -> impl std::future::Future<Output = ()> + 'a {
    async move {
        let TargetStream::Plain(tcp) = &mut routed.0.stream else {
            // Boxed: the generic relay's state (1.4 KiB) would otherwise sit in every plain
            // connection's task for its whole life, TLS to the target or not.
            return Box::pin(forward(client, prelude, routed, idle, log)).await;
        };
        // Field by field: `tcp` borrows the stream.
        if let Some(t) = routed.1.targets.get(routed.0.index) {
            log.set_target(t);
        }
        log.connect_time = Some(routed.0.connect_time);
        // What the connect did not send already.
        let early = routed.0.early_sent.min(prelude.len());
        if let Err(sent) = send_rest(tcp, &prelude[early..]).await {
            client.reset();
            return log.finished(RelayEnding::Target, (early + sent) as u64, 0);
        }
        let cut = Arc::clone(&routed.0.cut);
        let splicing = crate::splice::enabled().then_some(fds);
        let end = crate::splice::relay_plain(&mut client, tcp, idle, &cut, splicing).await;
        end_connection(&mut client, tcp, end.ending).await;
        log.finished(
            end.ending,
            end.from_client + prelude.len() as u64,
            end.from_target,
        );
    }
}

/// Writes the rest of what was read before routing; when the target's stream fails first,
/// how many of those bytes it took (the access log counts what was handed to the target's
/// socket, or to its TLS session, not what was meant for it).
async fn send_rest<W: AsyncWrite + Unpin>(target: &mut W, rest: &[u8]) -> Result<(), usize> {
    let mut sent = 0;
    while sent < rest.len() {
        match target.write(&rest[sent..]).await {
            Ok(n) if n > 0 => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(_) | Err(_) => return Err(sent),
        }
    }
    Ok(())
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
    let early = target.early_sent.min(prelude.len());
    if let Err(sent) = send_rest(&mut target.stream, &prelude[early..]).await {
        client.reset();
        return log.finished(RelayEnding::Target, (early + sent) as u64, 0);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected pair on loopback: (ours, the target's end).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (ours, theirs) = tokio::join!(TcpStream::connect(address), listener.accept());
        (ours.expect("connect"), theirs.expect("accept").0)
    }

    #[tokio::test]
    async fn the_rest_reaches_a_live_target_whole() {
        let (mut ours, mut theirs) = pair().await;
        assert_eq!(
            send_rest(&mut ours, b"GET / HTTP/1.0\r\n\r\n").await,
            Ok(())
        );
        drop(ours);
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut theirs, &mut got)
            .await
            .expect("read");
        assert_eq!(got, b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(send_rest(&mut pair().await.0, b"").await, Ok(()));
    }

    #[tokio::test]
    async fn a_target_that_reset_is_counted_as_having_got_nothing() {
        let (mut ours, theirs) = pair().await;
        theirs.set_zero_linger().expect("linger");
        drop(theirs);
        // The reset makes the socket readable (an error) once it has arrived.
        ours.readable().await.expect("readable");
        assert_eq!(send_rest(&mut ours, &[7u8; 100]).await, Err(0));
    }
}
