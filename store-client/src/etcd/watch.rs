//! An etcd watch on one router's config key that outlives the member it talks to: after a
//! broken stream it starts again from the revision after the last one seen, so no change is
//! missed; if those revisions were compacted away, it reports the current config instead.

use tokio::sync::mpsc;

use super::conn::backoff;
use super::gateway::WatchResponse;
use super::EtcdStore;
use crate::{RouterId, StoreError, StoreEvent, Stored, Version, Watch};

pub(super) async fn start(
    store: EtcdStore,
    id: RouterId,
    since: Option<Version>,
) -> Result<Watch, StoreError> {
    let next = match since {
        Some(v) => match v.0.parse::<i64>() {
            Ok(revision) => revision + 1,
            Err(_) => {
                return Err(StoreError::NoSuchVersion {
                    store: crate::ConfigStore::describe(&store),
                    id: id.to_string(),
                    version: v,
                })
            }
        },
        None => current_revision(&store).await? + 1,
    };
    let (tx, rx) = mpsc::channel(64);
    let follower = Follower {
        store,
        id,
        next,
        tx,
    };
    tokio::spawn(follower.run());
    Ok(rx)
}

/// The cluster's revision now.
async fn current_revision(store: &EtcdStore) -> Result<i64, StoreError> {
    let got = store
        .conn
        .read("reading the revision", |e| async move {
            e.range("\0", false, true).await
        })
        .await?;
    Ok(got.revision())
}

struct Follower {
    store: EtcdStore,
    id: RouterId,
    /// The first revision not yet reported.
    next: i64,
    tx: mpsc::Sender<Result<StoreEvent, StoreError>>,
}

enum Ended {
    /// The receiver is gone.
    Closed,
    /// Start a new watch.
    Again,
}

impl Follower {
    async fn run(mut self) {
        let mut failures = 0;
        loop {
            match self.follow().await {
                Ended::Closed => return,
                Ended::Again => {
                    failures += 1;
                    tokio::select! {
                        () = tokio::time::sleep(backoff(failures)) => {}
                        () = self.tx.closed() => return,
                    }
                }
            }
            if failures > 0 && self.tx.is_closed() {
                return;
            }
        }
    }

    /// One watch stream, until it breaks.
    async fn follow(&mut self) -> Ended {
        let key = self.store.keys(&self.id).config();
        let next = self.next;
        let opened = self
            .store
            .conn
            .open("starting a watch", |e| {
                let key = key.clone();
                async move { e.watch(&key, next).await }
            })
            .await;
        let (mut stream, generation) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(id = %self.id, error = %e, "etcd watch: cannot start; retrying");
                return Ended::Again;
            }
        };
        tracing::debug!(id = %self.id, from = self.next, "etcd watch started");
        loop {
            let message = tokio::select! {
                m = stream.message() => m,
                () = self.tx.closed() => return Ended::Closed,
            };
            match message {
                Ok(Some(response)) => {
                    if let Some(ended) = self.handle(response).await {
                        return ended;
                    }
                }
                Ok(None) => {
                    tracing::warn!(id = %self.id, "etcd watch: the member closed the stream; resuming");
                    return Ended::Again;
                }
                Err(e) => {
                    let e = self.store.conn.error("watching", e);
                    tracing::warn!(id = %self.id, error = %e, "etcd watch broke; resuming from revision {}", self.next);
                    self.store.conn.reset(generation).await;
                    return Ended::Again;
                }
            }
        }
    }

    /// `Some` when this watch is over.
    async fn handle(&mut self, response: WatchResponse) -> Option<Ended> {
        if response.canceled {
            if response.compact_revision > 0 {
                tracing::info!(id = %self.id, compacted = response.compact_revision, "etcd watch: missed revisions were compacted; reporting the current config");
                return Some(self.catch_up().await);
            }
            tracing::warn!(id = %self.id, reason = response.cancel_reason, "etcd watch cancelled by the server; resuming");
            return Some(Ended::Again);
        }
        let keys = self.store.keys(&self.id);
        for event in &response.events {
            let Some(kv) = event.kv.as_ref() else {
                continue;
            };
            let revision = kv.mod_revision();
            let item = if event.is_delete() {
                Ok(StoreEvent::Deleted)
            } else {
                match self.store.text(kv) {
                    Ok(text) => {
                        self.store.ensure_recorded(&keys, &text, revision).await;
                        Ok(StoreEvent::Changed(Stored {
                            text,
                            version: Version(revision.to_string()),
                        }))
                    }
                    Err(e) => Err(e),
                }
            };
            tracing::debug!(id = %self.id, revision, "etcd watch: change");
            self.next = revision + 1;
            if self.tx.send(item).await.is_err() {
                return Some(Ended::Closed);
            }
        }
        None
    }

    /// After compaction: the current config stands for every change missed.
    async fn catch_up(&mut self) -> Ended {
        let revision = match current_revision(&self.store).await {
            Ok(r) => r,
            Err(_) => return Ended::Again,
        };
        let event = match crate::ConfigStore::get(&self.store, &self.id).await {
            Ok(Some(stored)) => StoreEvent::Changed(stored),
            Ok(None) => StoreEvent::Deleted,
            Err(_) => return Ended::Again,
        };
        self.next = revision + 1;
        if self.tx.send(Ok(event)).await.is_err() {
            return Ended::Closed;
        }
        Ended::Again
    }
}
