//! The box a request in progress runs in, reused from a per-worker pool.
//!
//! A request's future (about 4 KiB) is boxed so that an idle keep-alive connection does not
//! carry its size. Allocating that box per request was the last allocation of a keep-alive
//! request; a box given back when its request ends is taken by the next request on the same
//! worker (tokio-util's `ReusableBoxFuture` writes the new future into the old allocation), so
//! in the steady state a request allocates nothing and an idle connection still holds no box.
//!
//! The pool is per thread: a worker's connections run on its own thread. It is kept per client
//! stream type (plain TCP, TLS), since each has its own future type, and bounded: past
//! `MAX_POOLED` boxes given back, a box is freed. The pool does not shrink below that.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::future::Future;

use tokio_util::sync::ReusableBoxFuture;

/// Boxes one worker keeps per stream type (plain, TLS): as many as its requests in flight at
/// once, up to this many (64 boxes of about 4 KiB: 256 KiB per type and worker at most, kept
/// after a burst; requests beyond it allocate as before). Not more: what a burst leaves in the
/// pools is memory the idle connections after it appear to cost (256 made 10,000 idle
/// connections 1.23 KiB each, 64 made them 1.06, with no CPU change at 1,000 in flight).
const MAX_POOLED: usize = 64;

thread_local! {
    /// The pools of this thread, one per output type (a `Vec<ReusableBoxFuture<'static, T>>`
    /// each, behind `Any`).
    static POOLS: RefCell<Vec<(TypeId, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

/// A request's future in a box taken from the pool (or new when the pool is empty).
pub(super) fn boxed<T: 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> ReusableBoxFuture<'static, T> {
    match with_pool::<T, _>(|pool| pool.pop()).flatten() {
        Some(mut reused) => {
            reused.set(future);
            reused
        }
        None => ReusableBoxFuture::new(future),
    }
}

/// Gives a box whose future has completed back to the pool.
pub(super) fn give_back<T: 'static>(done: ReusableBoxFuture<'static, T>) {
    let kept = with_pool::<T, _>(|pool| {
        if pool.len() < MAX_POOLED {
            pool.push(done);
            None
        } else {
            Some(done)
        }
    });
    // Freed outside the pool's borrow (dropping a future may run arbitrary code).
    drop(kept);
}

/// Runs `f` on this thread's pool for `T` (`None` while the thread's storage is being torn
/// down).
fn with_pool<T: 'static, R>(
    f: impl FnOnce(&mut Vec<ReusableBoxFuture<'static, T>>) -> R,
) -> Option<R> {
    POOLS
        .try_with(|pools| {
            let mut pools = pools.try_borrow_mut().ok()?;
            let id = TypeId::of::<T>();
            let at = match pools.iter().position(|(t, _)| *t == id) {
                Some(at) => at,
                None => {
                    let empty: Vec<ReusableBoxFuture<'static, T>> = Vec::new();
                    pools.push((id, Box::new(empty)));
                    pools.len() - 1
                }
            };
            let pool = pools[at]
                .1
                .downcast_mut::<Vec<ReusableBoxFuture<'static, T>>>()?;
            Some(f(pool))
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_box_given_back_is_taken_by_the_next_request() {
        let first = boxed(async { 1u64 });
        let mut first = first;
        assert_eq!((&mut first).await, 1);
        let address = |b: &mut ReusableBoxFuture<'static, u64>| {
            let pinned = b.get_pin();
            std::ptr::from_ref(&*pinned).cast::<u8>() as usize
        };
        let before = address(&mut first);
        give_back(first);
        let mut second = boxed(async { 2u64 });
        assert_eq!(address(&mut second), before, "the same allocation");
        assert_eq!((&mut second).await, 2);
        // A different output type has a pool of its own.
        let mut other = boxed(async { "other" });
        assert_eq!((&mut other).await, "other");
    }

    #[test]
    fn the_pool_is_bounded() {
        let mut boxes: Vec<_> = (0..MAX_POOLED + 10)
            .map(|i| boxed(async move { i as u32 }))
            .collect();
        for b in boxes.drain(..) {
            give_back(b);
        }
        let pooled = with_pool::<u32, _>(|pool| pool.len());
        assert_eq!(pooled, Some(MAX_POOLED));
    }
}
