//! The write side of the state machine ([`Write`]): snapshots with compare-and-swap,
//! conflicts, store-side edits adopted after what runs is kept in history, reload and the
//! final snapshot.

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use super::machine::Write;
use super::{error_chain, model, Daemon, NotApplied, Phase};
use crate::router::Router;
use crate::store::note::message;
use crate::store::{Expect, StoreError, Stored, Watch, WriteKind};

impl<R: Router + 'static> Daemon<R> {
    pub(super) async fn open_watch(&mut self) -> Option<Watch> {
        let store = &self.stores[self.writer?];
        match store
            .watch(&self.id, self.m.store_version.clone(), self.settings.poll)
            .await
        {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("cannot watch {} for edits yet: {e}", store.describe());
                None
            }
        }
    }

    /// Renders the running config and writes it if it differs from the saved one. Returns
    /// the config it read (none when held or without a writer).
    pub(super) async fn snapshot(&mut self, why: &str) -> Option<model::Config> {
        if self.writer.is_none() {
            tracing::warn!("no writable store: snapshot ({why}) not saved");
            return None;
        }
        if self.m.edit.pending() || self.settings.hold.as_ref().is_some_and(|h| h.exists()) {
            tracing::info!("snapshot ({why}) held: a commit-confirm is pending");
            let older = self.m.write.take_text();
            let at = Instant::now() + Duration::from_secs(1);
            self.m.write = Write::Held { at, older };
            return None;
        }
        // No longer held: a snapshot rendered before the hold is pending as it was.
        self.m.write = match std::mem::take(&mut self.m.write) {
            Write::Held {
                at,
                older: Some(text),
            } => Write::Pending { text, at },
            Write::Held { older: None, .. } => Write::Idle,
            other => other,
        };
        let (text, config) = match self.render_read().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("reading the running config for a snapshot: {e}");
                self.status.last_error = Some(e);
                self.status.counters.snapshot_failures += 1;
                self.schedule_retry();
                return None;
            }
        };
        if self.m.saved.as_deref() == Some(text.as_str()) {
            tracing::debug!("snapshot ({why}): unchanged");
            self.m.write = Write::Idle;
            self.publish();
            return Some(config);
        }
        tracing::info!("snapshot ({why}): the running config changed");
        let at = Instant::now();
        self.m.write = Write::Pending { text, at };
        self.flush().await;
        Some(config)
    }

    /// The unwritten snapshot (if any) is tried again after the backoff.
    fn schedule_retry(&mut self) {
        let delay = self.retry.next_delay();
        self.m.write.retry_at(Instant::now() + delay);
        self.publish();
    }

    /// Writes the pending snapshot with compare-and-swap.
    pub(super) async fn flush(&mut self) {
        let (Some(text), Some(w)) = (self.m.write.text().map(str::to_owned), self.writer) else {
            return;
        };
        let expect = match self.m.expect.clone() {
            Some(e) => e,
            None => match self.stores[w].get(&self.id).await {
                // The writer was not the boot store: what it holds was not seen yet.
                Ok(None) => Expect::Absent,
                Ok(Some(s)) => {
                    self.m.store_version = Some(s.version.clone());
                    self.m.expect = Some(Expect::Version(s.version.clone()));
                    if self.m.saved.is_none() {
                        return self.resolve_conflict(text, s).await;
                    }
                    Expect::Version(s.version)
                }
                Err(e) => return self.write_failed(e),
            },
        };
        let message = message(WriteKind::Snapshot, &format!("snapshot of {}", self.id));
        match self.stores[w].put(&self.id, &text, &expect, &message).await {
            Ok(v) => {
                tracing::info!("snapshot saved as version {v}");
                self.m.saved = Some(text);
                self.m.write = Write::Idle;
                self.m.expect = Some(Expect::Version(v.clone()));
                self.m.running_version = Some(v.clone());
                self.m.store_version = Some(v);
                self.status.counters.snapshots += 1;
                if matches!(self.m.phase, Phase::Degraded(_) | Phase::Failed(_)) {
                    self.m.phase = Phase::Running;
                }
                self.retry.reset();
                self.publish();
            }
            Err(StoreError::Conflict { current, .. }) => {
                self.status.counters.conflicts += 1;
                tracing::warn!(
                    "the store's config changed meanwhile (now {current:?}); keeping the running config in history and taking the store's"
                );
                match self.stores[w].get(&self.id).await {
                    Ok(Some(s)) => self.resolve_conflict(text, s).await,
                    Ok(None) => {
                        self.m.expect = Some(Expect::Absent);
                        self.schedule_retry();
                    }
                    Err(e) => self.write_failed(e),
                }
            }
            Err(e) => self.write_failed(e),
        }
    }

    fn write_failed(&mut self, e: StoreError) {
        self.status.counters.snapshot_failures += 1;
        let delay = self.retry.next_delay();
        tracing::warn!("snapshot not saved: {e}; kept in memory, retrying in {delay:.1?}");
        self.status.last_error = Some(e.to_string());
        self.m.write.retry_at(Instant::now() + delay);
        self.publish();
    }

    /// A conflict: ours goes into history, the store's newer config is applied.
    async fn resolve_conflict(&mut self, ours: String, theirs: Stored) {
        let w = self.writer.unwrap_or_default();
        let message = message(
            WriteKind::Conflict,
            &format!(
                "running config of {}, superseded by store version {}",
                self.id, theirs.version
            ),
        );
        if let Err(e) = self.stores[w].archive(&self.id, &ours, &message).await {
            return self.write_failed(e);
        }
        self.m.write = Write::Idle;
        self.m.saved = Some(ours);
        self.adopt(theirs, "newer config in the store").await;
    }

    /// Applies a config the store has and the router does not run, after saving the
    /// running config into history (unless it is there already). Reads the running config
    /// once before (what to keep) and, if the router took the edit, once after (what the
    /// next snapshot is compared with).
    pub(super) async fn adopt(&mut self, theirs: Stored, why: &str) {
        tracing::info!("{why}: applying store version {}", theirs.version);
        let w = self.writer.unwrap_or_default();
        let running = match self.render().await {
            Ok(running) => running,
            Err(e) => {
                tracing::error!(
                    "not applying store version {}: reading the running config: {e}",
                    theirs.version
                );
                return;
            }
        };
        if self.m.saved.as_deref() != Some(running.as_str()) {
            let message = message(
                WriteKind::Apply,
                &format!(
                    "running config of {} before store version {} was applied",
                    self.id, theirs.version
                ),
            );
            if let Err(e) = self.stores[w].archive(&self.id, &running, &message).await {
                tracing::warn!("not applying store version {} yet: {e}", theirs.version);
                self.m.write = Write::Pending {
                    text: running,
                    at: Instant::now(),
                };
                return self.write_failed(e);
            }
        }
        let previous = self.before_edit(w, running.clone()).await;
        self.m.store_version = Some(theirs.version.clone());
        self.m.expect = Some(Expect::Version(theirs.version.clone()));
        let origin = format!("{}@{}", self.id, theirs.version);
        let baseline = match self.apply_text(w, &origin, &theirs.text).await {
            Ok(()) => {
                self.status.counters.store_edits += 1;
                self.m.running_version = Some(theirs.version.clone());
                self.m.phase = Phase::Running;
                self.await_confirm(theirs, previous);
                self.render().await.ok()
            }
            Err(refused) => {
                self.refused_edit(&theirs, &refused);
                if refused.untouched {
                    // Nothing was written: what runs is what was read before.
                    Some(running)
                } else {
                    self.render().await.ok()
                }
            }
        };
        self.m.write = Write::Idle;
        self.m.saved = baseline;
        self.publish();
    }

    fn refused_edit(&mut self, theirs: &Stored, refused: &NotApplied) {
        let reason = &refused.reason;
        tracing::error!(
            "store version {} refused, the router keeps its running config: {reason}",
            theirs.version
        );
        self.status.last_error = Some(reason.clone());
        self.m.phase = Phase::Degraded(format!(
            "store version {} refused ({reason}); running {}",
            theirs.version,
            self.m
                .running_version
                .as_ref()
                .map_or("the boot state".to_owned(), |v| v.to_string())
        ));
    }

    /// SIGHUP: save what runs, then take the store's config again.
    pub(super) async fn reload(&mut self) {
        tracing::info!("reload: pulling the config again");
        self.snapshot("before reload").await;
        let Some(w) = self.writer else { return };
        match self.stores[w].get(&self.id).await {
            Ok(Some(s)) if self.m.edit.refused(&s.version) => tracing::warn!(
                "reload: store version {} was undone (the store was not reachable after it); not applying it again",
                s.version
            ),
            Ok(Some(s)) => {
                let origin = format!("{}@{}", self.id, s.version);
                if self.m.store_version.as_ref() != Some(&s.version) {
                    self.adopt(s, "reload").await;
                } else if let Err(refused) = self.apply_text(w, &origin, &s.text).await {
                    tracing::error!("reload: {}", refused.reason);
                    self.status.last_error = Some(refused.reason);
                    self.publish();
                }
            }
            Ok(None) => tracing::warn!("reload: the store has no config for {}", self.id),
            Err(e) => tracing::warn!("reload: {e}"),
        }
    }

    /// The final snapshot, bounded in time; then BGP announces the shutdown, from the
    /// config the snapshot read (read again only if it read none).
    pub(super) async fn shutdown(&mut self) {
        tracing::info!(
            "stopping: final snapshot (at most {:?})",
            self.settings.stop_timeout
        );
        let bound = self.settings.stop_timeout;
        let done = tokio::time::timeout(bound, async {
            let read = self.snapshot("shutdown").await;
            while let (Some(_), Some(at)) = (self.m.write.text(), self.m.write.at()) {
                sleep_until(at).await;
                self.flush().await;
            }
            read
        })
        .await;
        let read = match done {
            Ok(read) => read,
            Err(_) => {
                tracing::error!(
                    "the final snapshot could not be saved within {bound:?}; it is lost"
                );
                None
            }
        };
        let running = match read {
            Some(config) => Ok(config),
            None => self.read_running().await,
        };
        // Peers move their traffic away before the sessions drop (BGP graceful shutdown).
        if let Ok(config) = running {
            let stopped = self
                .on_router(move |router| match config.validate() {
                    Ok(v) => router.stopping(&v),
                    Err(_) => tracing::warn!(
                        "the running config does not validate; nothing announced before stopping"
                    ),
                })
                .await;
            if let Err(e) = stopped {
                tracing::error!("announcing the shutdown: {}", error_chain(&e));
            }
        }
        self.set_phase(Phase::Stopped);
    }
}
