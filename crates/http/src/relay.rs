//! The attempts of a forwarded request, with their I/O: a pooled or new connection to each
//! target [`Attempts`] chooses, the exchange up to the response head, and the timers that
//! bound it. Shared by the HTTP/1 and HTTP/2 client sides; what differs (where the body
//! comes from) is the [`Upload`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::time::Sleep;

use crate::attempt::{Attempts, Try};
use crate::buf::BufferPool;
use crate::codec::{Field, ResponseHead};
use crate::conn::ListenerShared;
use crate::decide::Forwarding;
use crate::fault::Fault;
use crate::snapshot::Target;
use crate::snapshot::TargetGroup;
use crate::timer::Deadline;
pub(crate) use crate::upstream::RequestKind;
use crate::upstream::{
    connect, Destination, ProxyHeader, RoundTrip, SendFailure, Upload, Upstream,
};

/// A request that reached a target and got a response head.
#[derive(Debug)]
pub(crate) struct Relayed {
    pub(crate) tried: Try,
    pub(crate) up: Upstream,
    pub(crate) head: ResponseHead,
    /// The whole request was written to the target (else it answered early, and its
    /// connection cannot carry another request).
    pub(crate) request_sent: bool,
}

/// Sends `target_head` (and the body `upload` yields) to a target of the forward, trying
/// another target when the rules allow, until a response head arrives. `fields` receives
/// the head's fields; on failure, the fault and the target it concerns. `proxy`: the PROXY
/// header of the group's connections for this client (groups that send one).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn relay<U: Upload>(
    forwarding: &Forwarding,
    kind: RequestKind,
    target_head: &[u8],
    upload: &mut U,
    shared: &ListenerShared,
    fields: &mut Vec<Field>,
    started: Instant,
    mut sleep: Pin<&mut Sleep>,
    proxy: Option<&ProxyHeader>,
) -> Result<Relayed, (Fault, Option<Arc<Target>>)> {
    let group = &forwarding.group;
    let mut attempts = Attempts::new(forwarding, kind.bodiless && kind.idempotent);
    let mut fresh_once = false;
    loop {
        let now = if attempts.is_first() {
            started
        } else {
            Instant::now()
        };
        let tried = attempts.next(now, fastrand::u64(..))?;
        let mut up = match tried.target.pool.checkout(shared.worker, now, proxy) {
            Some(up) => Ok(up),
            None => connect(
                destination(&tried.target, group, proxy),
                group.connect_timeout,
                &shared.fds,
            )
            .await
            .map_err(Fault::Connect),
        };
        let result = loop {
            let mut connection = match up {
                Ok(connection) => connection,
                Err(fault) => {
                    break Err(SendFailure {
                        fault,
                        unsent: true,
                        body_started: upload.started(),
                        silent: true,
                    })
                }
            };
            let sent = send_timed(
                &mut connection,
                target_head,
                upload,
                &shared.buffers,
                fields,
                kind,
                group.response_timeout,
                now,
                sleep.as_mut(),
            )
            .await;
            match sent {
                Ok((head, request_sent)) => break Ok((connection, head, request_sent)),
                // A kept-alive connection the target closed as the request went out: it
                // never reached the target. Once, on a new connection to the same target.
                Err(failure)
                    if connection.reused
                        && !fresh_once
                        && failure.silent
                        && !failure.body_started
                        && matches!(failure.fault, Fault::TargetClosed(_))
                        && (failure.unsent || kind.idempotent) =>
                {
                    fresh_once = true;
                    drop(connection);
                    up = connect(
                        destination(&tried.target, group, proxy),
                        group.connect_timeout,
                        &shared.fds,
                    )
                    .await
                    .map_err(Fault::Connect);
                }
                Err(failure) => break Err(failure),
            }
        };
        match result {
            Ok((up, head, request_sent)) => {
                return Ok(Relayed {
                    tried,
                    up,
                    head,
                    request_sent,
                })
            }
            Err(failure) => {
                let unsent = failure.unsent && !failure.body_started;
                if let Some((fault, target)) = attempts.failed(
                    tried,
                    failure.fault,
                    unsent,
                    upload.finished(),
                    failure.silent,
                ) {
                    return Err((fault, Some(target)));
                }
            }
        }
    }
}

/// Sends the request on `up` and waits for the response head: while the client is still
/// uploading, the client is timed (408 after `timeout` without a byte), unless its bytes
/// wait for a target that stopped reading (504 after `timeout`); once the body is sent, the
/// target is (504 after `timeout`). Returns the head and whether the whole request was
/// written to the target.
#[allow(clippy::too_many_arguments)]
async fn send_timed<U: Upload>(
    up: &mut Upstream,
    target_head: &[u8],
    upload: &mut U,
    pool: &BufferPool,
    fields: &mut Vec<Field>,
    kind: RequestKind,
    timeout: Duration,
    started: Instant,
    mut sleep: Pin<&mut Sleep>,
) -> Result<(ResponseHead, bool), SendFailure> {
    let mut send = RoundTrip::new(up, target_head, upload, pool, fields, kind, started);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = Pin::new(&mut send).poll(cx) {
            let sent = send.request_sent();
            return Poll::Ready(result.map(|head| (head, sent)));
        }
        let (at, fault) = if send.body_done() {
            let done = *send.done_at.get_or_insert_with(Instant::now);
            (done + timeout, Fault::ResponseTimeout)
        } else if let Some(since) = send.waiting_on_target() {
            (
                since.max(send.last_activity()) + timeout,
                Fault::ResponseTimeout,
            )
        } else {
            let idle = (send.last_activity() + timeout, Fault::ClientBodyTimeout);
            let due = kind.due.map(|due| (due, Fault::RequestTimeout));
            let slow = send.too_slow_at().map(|at| (at, Fault::ClientBodyTooSlow));
            [due, slow]
                .into_iter()
                .flatten()
                .fold(idle, |a, b| if b.0 < a.0 { b } else { a })
        };
        match Deadline::at(at.into()).poll(sleep.as_mut(), cx) {
            Poll::Ready(_) => Poll::Ready(Err(send.failure(fault))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Where a new connection to `target` of `group` goes.
fn destination<'a>(
    target: &'a Target,
    group: &'a TargetGroup,
    proxy: Option<&'a ProxyHeader>,
) -> Destination<'a> {
    Destination {
        address: target.address,
        state: &target.state,
        pool: &target.pool,
        tls: group.tls.as_ref(),
        proxy,
    }
}
