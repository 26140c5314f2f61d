//! A watch for stores that cannot push: ask every `poll`, report when the version moved.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{ConfigStore, RouterId, StoreEvent, Version, Watch};

/// Follows `id` from version `last` (`None`: no config). Read failures are logged and polled
/// on (a pulled stick or a rebooting server may come back; snapshots report the outage).
pub(crate) fn spawn<S>(store: S, id: RouterId, mut last: Option<Version>, poll: Duration) -> Watch
where
    S: ConfigStore + 'static,
{
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let event = match store.get(&id).await {
                Ok(Some(stored)) if last.as_ref() != Some(&stored.version) => {
                    last = Some(stored.version.clone());
                    Some(StoreEvent::Changed(stored))
                }
                Ok(None) if last.is_some() => {
                    last = None;
                    Some(StoreEvent::Deleted)
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(%id, store = store.describe(), error = %e, "watch: read failed; polling on");
                    None
                }
            };
            if let Some(event) = event {
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = tx.closed() => return,
            }
        }
    });
    rx
}
