//! Watching a store that cannot push: ask it every poll interval whether the config
//! changed (HTTP: a conditional GET; git: the branch's tip; files and TFTP: a whole read).
//! A failed poll ends the watch with the error; the daemon opens it again later.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{ConfigStore, RouterId, StoreError, StoreEvent, Stored, Version, Watch};

/// One poll's answer.
#[derive(Debug)]
pub enum Polled {
    /// Still the version asked about.
    Unchanged,
    /// What the store holds now (`None`: no config).
    Now(Option<Stored>),
}

/// Polls until the receiver is dropped or a poll fails (the error is the last item).
/// `since`: the version the caller knows (`None`: it knows there is none); a difference
/// is reported at the first poll, which is immediate.
pub fn spawn<F, Fut>(what: String, since: Option<Version>, every: Duration, mut poll: F) -> Watch
where
    F: FnMut(Option<Version>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Polled, StoreError>> + Send,
{
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut last = since;
        loop {
            let event = match poll(last.clone()).await {
                Ok(Polled::Unchanged) => None,
                Ok(Polled::Now(Some(s))) if Some(&s.version) != last.as_ref() => {
                    tracing::debug!("{what}: now version {}", s.version);
                    last = Some(s.version.clone());
                    Some(Ok(StoreEvent::Changed(s)))
                }
                Ok(Polled::Now(Some(_))) => None,
                Ok(Polled::Now(None)) => last.take().map(|_| Ok(StoreEvent::Deleted)),
                Err(e) => Some(Err(e)),
            };
            let failed = matches!(event, Some(Err(_)));
            if let Some(event) = event {
                if tx.send(event).await.is_err() || failed {
                    return;
                }
            }
            tokio::select! {
                () = tx.closed() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    });
    rx
}

/// The version a watch starts from: the caller's, else the store's current one.
pub async fn start_version<Fut>(
    since: Option<Version>,
    current: impl FnOnce() -> Fut,
) -> Result<Option<Version>, StoreError>
where
    Fut: Future<Output = Result<Option<Stored>, StoreError>>,
{
    match since {
        Some(v) => Ok(Some(v)),
        None => Ok(current().await?.map(|s| s.version)),
    }
}

/// A watch that reads the whole config at each poll, for stores that cannot be asked
/// "changed since?" more cheaply (files, TFTP).
pub async fn watch_by_reading<S>(
    store: &S,
    id: &RouterId,
    since: Option<Version>,
    every: Duration,
) -> Result<Watch, StoreError>
where
    S: ConfigStore + Clone + 'static,
{
    let since = start_version(since, || store.get(id)).await?;
    let (store, id) = (store.clone(), id.clone());
    let what = format!("{} {id}", store.describe());
    Ok(spawn(what, since, every, move |_| {
        let (store, id) = (store.clone(), id.clone());
        async move { Ok(Polled::Now(store.get(&id).await?)) }
    }))
}
