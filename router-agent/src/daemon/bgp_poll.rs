//! BIRD's sessions for the metrics: one `birdc show protocols all` per interval, never
//! two at once (a BIRD that hangs is reported as unreachable, not asked again and again).

use std::time::Duration;

use tokio::sync::watch;

use crate::bgp::Readout;

/// How long one readout may take before BIRD counts as not reachable.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Reads every `interval` and publishes what changed. `read` runs on a blocking thread
/// and returns `None` when the router runs no BGP (no bird.conf): then nothing is asked.
pub async fn poll(
    read: impl Fn() -> Option<Readout> + Clone + Send + 'static,
    tx: watch::Sender<Option<Readout>>,
    interval: Duration,
) {
    let mut inflight: Option<tokio::task::JoinHandle<Option<Readout>>> = None;
    loop {
        let mut handle = inflight.take().unwrap_or_else(|| {
            let read = read.clone();
            tokio::task::spawn_blocking(read)
        });
        let now = match tokio::time::timeout(ANSWER_WITHIN, &mut handle).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Some(Readout::Unreachable(format!("reading BIRD failed: {e}"))),
            Err(_) => {
                tracing::warn!("birdc gave no answer within {ANSWER_WITHIN:?}");
                // The same call is awaited next time instead of starting another.
                inflight = Some(handle);
                Some(Readout::Unreachable(format!(
                    "birdc gave no answer within {ANSWER_WITHIN:?}"
                )))
            }
        };
        tx.send_if_modified(|old| {
            let changed = *old != now;
            if changed {
                tracing::debug!("BGP readout changed");
                *old = now;
            }
            changed
        });
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reads_once_per_interval_and_publishes_changes() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let read = move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            Some(if n == 0 {
                Readout::Unreachable("down".into())
            } else {
                Readout::Sessions(Vec::new())
            })
        };
        let (tx, mut rx) = watch::channel(None);
        let start = tokio::time::Instant::now();
        tokio::spawn(poll(read, tx, Duration::from_secs(30)));
        rx.changed().await.expect("first readout");
        assert_eq!(
            *rx.borrow_and_update(),
            Some(Readout::Unreachable("down".into()))
        );
        rx.changed().await.expect("second readout");
        assert_eq!(*rx.borrow_and_update(), Some(Readout::Sessions(Vec::new())));
        tokio::time::sleep_until(start + Duration::from_secs(95)).await;
        // At 0, 30, 60, 90 s: four reads, and no change published after the second.
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(!rx.has_changed().expect("open"));
    }
}
