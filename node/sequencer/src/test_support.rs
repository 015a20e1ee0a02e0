//! Helpers for this crate's unit tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// A task counting 10 ms ticks on the current runtime: it only advances while the runtime
/// has a thread free to run it, which is what tests of blocking work look at.
pub(crate) fn spawn_ticker() -> (Arc<AtomicU64>, JoinHandle<()>) {
    let ticks = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                ticks.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    (ticks, task)
}
