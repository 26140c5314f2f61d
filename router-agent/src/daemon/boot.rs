//! Boot: the store's config (or an older version of it) applied, the persisted files
//! restored, before the state machine runs.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use super::{error_chain, Backoff, Daemon, Event, Phase, StoppedWaiting};
use crate::daemon::persist::{self, Persisted};
use crate::router::Router;
use crate::store::{Expect, Stored, Version};

impl<R: Router + 'static> Daemon<R> {
    /// Restores or uploads the persisted files through store `at`. Those neither side has
    /// (yet) are looked for again later: returns when, or `None` once all are settled.
    /// `only_present`: skip files still absent here (no store request for them).
    pub(super) async fn sync_files(&mut self, at: usize, only_present: bool) -> Option<Instant> {
        let (due, waiting): (Vec<Persisted>, Vec<Persisted>) = std::mem::take(&mut self.files)
            .into_iter()
            .partition(|f| !only_present || f.path.exists());
        self.files = waiting;
        if !due.is_empty() {
            match persist::sync(self.stores[at].as_ref(), &self.id, &due).await {
                Ok(outcomes) => {
                    if outcomes.contains(&persist::Outcome::Restored) {
                        self.after_restore().await;
                    }
                    self.files.extend(
                        due.into_iter()
                            .zip(outcomes)
                            .filter(|(_, o)| *o == persist::Outcome::Missing)
                            .map(|(f, _)| f),
                    );
                }
                Err(e) => {
                    tracing::error!("persisted files: {}", error_chain(&e));
                    self.files.extend(due);
                }
            }
        }
        (!self.files.is_empty()).then(|| Instant::now() + self.settings.file_recheck)
    }

    /// Runs [`Settings::on_restore`], bounded to 10 s; a failure is logged.
    async fn after_restore(&self) {
        let Some(cmd) = &self.settings.on_restore else {
            return;
        };
        tracing::info!("a persisted file was restored: running `{cmd}`");
        let run = tokio::process::Command::new("sh")
            .args(["-c", cmd])
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .status();
        match tokio::time::timeout(Duration::from_secs(10), run).await {
            Ok(Ok(s)) if s.success() => {}
            Ok(Ok(s)) => tracing::warn!("`{cmd}`: {s}"),
            Ok(Err(e)) => tracing::warn!("`{cmd}`: {e}"),
            Err(_) => tracing::warn!("`{cmd}`: still running after 10 s; killed"),
        }
    }

    /// Asks each store in turn, round after round with backoff, until one answers (with a
    /// config or without one). Returns the store's index and its answer.
    pub(super) async fn pull_at_boot(
        &mut self,
        events: &mut mpsc::Receiver<Event>,
    ) -> Result<(usize, Option<Stored>), StoppedWaiting> {
        let mut backoff = Backoff::new(self.settings.retry_initial, self.settings.retry_max);
        loop {
            let mut failures = Vec::new();
            for (i, store) in self.stores.iter().enumerate() {
                match store.get(&self.id).await {
                    Ok(found) => {
                        tracing::info!(
                            "{} answered for {}: {}",
                            store.describe(),
                            self.id,
                            found
                                .as_ref()
                                .map_or("no config yet".to_owned(), |s| format!(
                                    "version {}",
                                    s.version
                                ))
                        );
                        return Ok((i, found));
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
            let delay = backoff.next_delay();
            let what = format!("{}; retrying in {delay:.1?}", failures.join("; "));
            tracing::warn!("waiting for the store: {what}");
            self.set_phase(Phase::WaitingForStore(what));
            // Changes (links coming up) do not cut the wait short; a stop does.
            let until = Instant::now() + delay;
            loop {
                tokio::select! {
                    () = sleep_until(until) => break,
                    ev = events.recv() => {
                        if matches!(ev, None | Some(Event::Stop)) {
                            self.set_phase(Phase::Stopped);
                            return Err(StoppedWaiting);
                        }
                    }
                }
            }
        }
    }

    /// Applies what the boot store holds, else the newest version of its history that
    /// applies; with no config at all, the running state becomes the first version.
    pub(super) async fn start(&mut self, from: usize, found: Option<Stored>) {
        let Some(current) = found else {
            tracing::info!(
                "the store has no config for {}; saving the running state as its first version",
                self.id
            );
            if Some(from) == self.writer {
                self.m.expect = Some(Expect::Absent);
            }
            self.set_phase(Phase::Running);
            self.snapshot("first boot: the running state").await;
            return;
        };
        self.m.store_version = Some(current.version.clone());
        if Some(from) == self.writer {
            self.m.expect = Some(Expect::Version(current.version.clone()));
        }
        let origin = format!("{}@{}", self.id, current.version);
        match self
            .apply_text(from, &origin, &current.text)
            .await
            .map_err(|e| e.reason)
        {
            Ok(()) => {
                self.m.running_version = Some(current.version.clone());
                self.m.phase = Phase::Running;
            }
            Err(reason) => {
                tracing::error!("the store's newest config is refused: {reason}");
                self.status.last_error = Some(reason.clone());
                self.m.phase = match self.fall_back(from, &current.version).await {
                    Some(v) => {
                        tracing::error!(
                            "DEGRADED: running version {v} from history instead of the newest, {}",
                            current.version
                        );
                        Phase::Degraded(format!(
                            "newest version {} refused ({reason}); running {v} from history",
                            current.version
                        ))
                    }
                    None => {
                        tracing::error!("no version in the store's history applies; the router keeps its boot state");
                        Phase::Failed(format!(
                            "newest version {} refused ({reason}); no older version applies",
                            current.version
                        ))
                    }
                };
            }
        }
        self.m.saved = if Some(from) == self.writer {
            self.render().await.ok()
        } else {
            None
        };
        self.publish();
    }

    /// Tries the history, newest first, and returns the version that applied.
    async fn fall_back(&mut self, from: usize, refused: &Version) -> Option<Version> {
        let history = match self.stores[from].history(&self.id).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!("reading the history to fall back on: {e}");
                return None;
            }
        };
        let limit = self.settings.fallback_versions;
        let older = history.into_iter().filter(|h| &h.version != refused);
        for (n, entry) in older.enumerate() {
            if n == limit {
                tracing::error!(
                    "the {limit} versions before {refused} were refused too; not trying older ones"
                );
                break;
            }
            let text = match self.stores[from]
                .get_version(&self.id, &entry.version)
                .await
            {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("history version {}: {e}", entry.version);
                    continue;
                }
            };
            let origin = format!("{}@{}", self.id, entry.version);
            match self
                .apply_text(from, &origin, &text)
                .await
                .map_err(|e| e.reason)
            {
                Ok(()) => {
                    self.m.running_version = Some(entry.version.clone());
                    return Some(entry.version);
                }
                Err(reason) => {
                    tracing::warn!("history version {} refused too: {reason}", entry.version)
                }
            }
        }
        None
    }
}
