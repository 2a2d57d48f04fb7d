//! Watches the keys a lease holds (the scaling leader's, the members'), so that when a
//! node's lease ends and its keys go, the other nodes act at once instead of at their next
//! renewal: the scaling groups change hands, and the member list (and the DNS answer for
//! the cluster) drops the node, within the lease's time-to-live.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::etcd::{Etcd, Event};
use crate::status::Board;

/// Until `stop`: every deletion of `key` (of a key under it when `prefix`) wakes the
/// membership task (`board.vacant`).
pub(crate) async fn watch_vacancy(
    etcd: Arc<Etcd>,
    board: Arc<Board>,
    (key, prefix): (Vec<u8>, bool),
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let watched = async {
            let (_, revision) = etcd.get(&key).await?;
            let mut watch = etcd.watch(&key, prefix, revision + 1).await?;
            while let Some(events) = watch.next().await? {
                if events.iter().any(|e| matches!(e, Event::Delete { .. })) {
                    board.vacant.notify_one();
                }
            }
            Ok::<(), crate::etcd::EtcdError>(())
        };
        // Errors are the membership task's to report; this one only tries again.
        tokio::select! {
            () = stop.cancelled() => return,
            _ = watched => {}
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
