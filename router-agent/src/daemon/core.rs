//! The daemon's loop, against any [`Router`] and [`ConfigStore`]s: pull at boot (with
//! retries, fallback stores and fallback versions), then snapshot on change, periodically
//! and at shutdown, with compare-and-swap; store-side edits are applied after the running
//! config is saved into history.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

#[path = "confirm_edit.rs"]
mod confirm_edit;

use super::backoff::Backoff;
use super::persist::{self, Persisted};
use super::status::{Phase, Status};
use crate::model::{self, bgp::ListFile};
use crate::router::Router;
use crate::store::note::message;
use crate::store::{
    error_chain, ConfigStore, Expect, FileName, RouterId, StoreError, StoreEvent, Stored, Version,
    Watch, WriteKind,
};

/// Something the daemon reacts to, from the outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The running state may have changed (netlink, nftables, BIRD's config).
    Changed(&'static str),
    /// Pull from the store and apply again (SIGHUP).
    Reload,
    /// Final snapshot, then return (SIGTERM).
    Stop,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Quiet time after a change before the snapshot.
    pub debounce: Duration,
    /// A stream of changes is snapshotted at least this often.
    pub max_debounce: Duration,
    /// Snapshot even without change events (catches what no event reports).
    pub periodic: Option<Duration>,
    /// How often stores without push (HTTP, files) are polled for edits.
    pub poll: Duration,
    /// The bound on the final snapshot at shutdown.
    pub stop_timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// While this file exists (a commit-confirm is pending) snapshots wait: an unconfirmed
    /// config must not reach the store.
    pub hold: Option<std::path::PathBuf>,
    /// How often a persisted file that neither the store nor the router had at boot is
    /// looked for again (an SSH host key made after the agent is ready).
    pub file_recheck: Duration,
    /// A shell command run when a persisted file was restored from the store (e.g.
    /// `systemctl --no-block try-restart ssh.service`: a daemon that read the old one).
    pub on_restore: Option<String>,
    /// How many older versions a refused newest one may fall back through: a store full
    /// of refused versions must not keep a booting router busy for minutes.
    pub fallback_versions: usize,
    /// A store-side edit is undone unless the store answers within this window after it
    /// was applied ([`confirm_edit`]); `None`: applied without a confirm step.
    pub edit_confirm: Option<Duration>,
    /// How often the store is asked during the window (the first time one interval after
    /// the apply).
    pub edit_probe: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            debounce: Duration::from_millis(500),
            max_debounce: Duration::from_secs(5),
            periodic: Some(Duration::from_secs(300)),
            poll: Duration::from_secs(10),
            stop_timeout: Duration::from_secs(20),
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            hold: None,
            file_recheck: Duration::from_secs(2),
            on_restore: None,
            fallback_versions: 20,
            edit_confirm: Some(Duration::from_secs(60)),
            edit_probe: Duration::from_secs(2),
        }
    }
}

/// Why the daemon stopped before it was running.
#[derive(Debug, thiserror::Error)]
#[error("stopped while waiting for the store")]
pub struct StoppedWaiting;

pub struct Daemon<R: Router> {
    id: RouterId,
    /// Tried in order at boot; snapshots go to the first writable one.
    stores: Vec<Box<dyn ConfigStore>>,
    writer: Option<usize>,
    router: R,
    settings: Settings,
    status: Status,
    status_tx: watch::Sender<Status>,
    /// The running config's text as the writer's history has it.
    saved: Option<String>,
    /// What the next write expects; `None`: unknown, ask the writer first.
    expect: Option<Expect>,
    /// A snapshot not yet written (newest wins).
    pending: Option<String>,
    retry: Backoff,
    retry_at: Option<Instant>,
    files: Vec<Persisted>,
    /// A snapshot waits for a pending commit-confirm.
    held: bool,
    /// A store-side edit waiting for its confirm, and the last one undone.
    edit: confirm_edit::EditState,
}

impl<R: Router> std::fmt::Debug for Daemon<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("id", &self.id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}

impl<R: Router> Daemon<R> {
    pub fn new(
        id: RouterId,
        stores: Vec<Box<dyn ConfigStore>>,
        router: R,
        settings: Settings,
    ) -> (Daemon<R>, watch::Receiver<Status>) {
        let writer = stores.iter().position(|s| !s.read_only());
        let status = Status {
            id: id.to_string(),
            store: stores
                .iter()
                .map(|s| s.describe())
                .collect::<Vec<_>>()
                .join(" | "),
            ..Status::default()
        };
        let (status_tx, status_rx) = watch::channel(status.clone());
        let retry = Backoff::new(settings.retry_initial, settings.retry_max);
        let daemon = Daemon {
            id,
            stores,
            writer,
            router,
            settings,
            status,
            status_tx,
            saved: None,
            expect: None,
            pending: None,
            retry,
            retry_at: None,
            files: Vec::new(),
            held: false,
            edit: confirm_edit::EditState::default(),
        };
        (daemon, status_rx)
    }

    /// Files restored from the store at boot (uploaded when the store has none).
    pub fn with_files(mut self, files: Vec<Persisted>) -> Self {
        self.files = files;
        self
    }

    pub fn router(&self) -> &R {
        &self.router
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    fn publish(&self) {
        self.status_tx.send_replace(self.status.clone());
    }

    fn set_phase(&mut self, phase: Phase) {
        self.status.phase = phase;
        self.publish();
    }

    /// The running config as TOML, laid out like the saved text and with its table names
    /// (the kernel keeps neither).
    fn render(&mut self) -> Result<String, String> {
        let router = &mut self.router;
        let previous = self.saved.as_deref();
        tokio::task::block_in_place(|| router.running())
            .map(|c| model::render_snapshot(previous, &c))
            .map_err(|e| error_chain(&e))
    }

    /// A list file the config names, from store `from` (kept beside the config there).
    async fn fetch_file(&self, from: usize, name: &ListFile) -> Result<String, String> {
        let file = FileName::new(name.as_str()).map_err(|e| e.to_string())?;
        match self.stores[from].get_file(&self.id, &file).await {
            Ok(Some(bytes)) => String::from_utf8(bytes)
                .map_err(|_| format!("{name} in the store is not UTF-8 text")),
            Ok(None) => Err(format!(
                "the store has no file {name} for {}; put it beside the config",
                self.id
            )),
            Err(e) => Err(format!("reading {name} from the store: {e}")),
        }
    }

    /// Validates a config text of store `from` and applies it; the router is unchanged on
    /// failure.
    async fn apply_text(&mut self, from: usize, origin: &str, text: &str) -> Result<(), String> {
        let mut config = model::parse(origin, text).map_err(|e| e.to_string())?;
        for name in config.list_files() {
            tracing::debug!("list file {name} from the store");
            let read = self.fetch_file(from, &name).await;
            config.set_file(name, read);
        }
        self.apply_config(origin, text, config)
    }

    /// Validates a parsed config (its list files set) and applies it.
    fn apply_config(
        &mut self,
        origin: &str,
        text: &str,
        config: model::Config,
    ) -> Result<(), String> {
        let valid = model::validate_text(config, origin, text).map_err(|e| e.to_string())?;
        let router = &mut self.router;
        let started = std::time::Instant::now();
        let result = tokio::task::block_in_place(|| crate::router::apply_caught(router, &valid));
        self.status
            .record_apply(origin, started.elapsed(), result.is_ok(), &valid);
        match result {
            Ok(applied) => {
                // The text the router now runs: the next render keeps its comments and table
                // names (callers that applied it from elsewhere than the writer reset this).
                self.saved = Some(text.to_owned());
                self.status.counters.applies += 1;
                tracing::info!(
                    net_ops = applied.net_ops,
                    firewall_changes = applied.firewall_changes,
                    "applied {origin}"
                );
                Ok(())
            }
            Err(e) => {
                self.status.counters.apply_failures += 1;
                Err(error_chain(&e))
            }
        }
    }

    /// Runs until [`Event::Stop`] or until `events` closes.
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>) -> Result<Self, StoppedWaiting> {
        let (from, found) = self.pull_at_boot(&mut events).await?;
        let mut files_due = self.sync_files(from, false).await;
        self.start(from, found).await;
        let mut watch = self.open_watch().await;
        let mut watch_retry: Option<Instant> = None;
        let mut changed_since: Option<Instant> = None;
        let mut deadline: Option<Instant> = None;
        let periodic = self.settings.periodic;
        let mut next_periodic = periodic.map(|p| Instant::now() + p);
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    None | Some(Event::Stop) => {
                        self.shutdown().await;
                        return Ok(self);
                    }
                    Some(Event::Changed(what)) => {
                        tracing::debug!("change seen: {what}");
                        let first = *changed_since.get_or_insert_with(Instant::now);
                        deadline = Some(
                            (Instant::now() + self.settings.debounce)
                                .min(first + self.settings.max_debounce),
                        );
                    }
                    Some(Event::Reload) => self.reload().await,
                },
                item = recv_watch(&mut watch) => match item {
                    Some(Ok(StoreEvent::Changed(s))) => {
                        if self.status.store_version.as_ref() != Some(&s.version)
                            && !self.edit.refused(&s.version)
                        {
                            self.adopt(s, "store-side edit").await;
                        }
                    }
                    Some(Ok(StoreEvent::Deleted)) => {
                        tracing::warn!("the store's config of {} was deleted; the next snapshot writes it again", self.id);
                        self.expect = Some(Expect::Absent);
                        self.saved = None;
                        self.snapshot("config deleted in the store").await;
                    }
                    Some(Err(e)) => {
                        tracing::warn!("watching the store: {e}; watching again shortly");
                        watch = None;
                        watch_retry = Some(Instant::now() + self.settings.poll);
                    }
                    None => {
                        watch = None;
                        watch_retry = Some(Instant::now() + self.settings.poll);
                    }
                },
                () = sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                    deadline = None;
                    changed_since = None;
                    self.snapshot("running state changed").await;
                }
                () = sleep_until(self.retry_at.unwrap_or_else(far_future)), if self.retry_at.is_some() => {
                    self.retry_at = None;
                    if self.held {
                        self.snapshot("after a held snapshot").await;
                    } else {
                        self.flush().await;
                    }
                }
                () = sleep_until(watch_retry.unwrap_or_else(far_future)), if watch_retry.is_some() => {
                    watch_retry = None;
                    watch = self.open_watch().await;
                    if watch.is_none() {
                        watch_retry = Some(Instant::now() + self.settings.poll);
                    }
                }
                () = sleep_until(files_due.unwrap_or_else(far_future)), if files_due.is_some() => {
                    files_due = self.sync_files(self.writer.unwrap_or(from), true).await;
                }
                () = sleep_until(self.edit.due().unwrap_or_else(far_future)), if self.edit.due().is_some() => {
                    self.confirm_tick().await;
                }
                () = sleep_until(next_periodic.unwrap_or_else(far_future)), if next_periodic.is_some() => {
                    next_periodic = periodic.map(|p| Instant::now() + p);
                    self.snapshot("periodic").await;
                }
            }
        }
    }

    /// Restores or uploads the persisted files through store `at`. Those neither side has
    /// (yet) are looked for again later: returns when, or `None` once all are settled.
    /// `only_present`: skip files still absent here (no store request for them).
    async fn sync_files(&mut self, at: usize, only_present: bool) -> Option<Instant> {
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
    async fn pull_at_boot(
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
    async fn start(&mut self, from: usize, found: Option<Stored>) {
        let Some(current) = found else {
            tracing::info!(
                "the store has no config for {}; saving the running state as its first version",
                self.id
            );
            if Some(from) == self.writer {
                self.expect = Some(Expect::Absent);
            }
            self.set_phase(Phase::Running);
            self.snapshot("first boot: the running state").await;
            return;
        };
        self.status.store_version = Some(current.version.clone());
        if Some(from) == self.writer {
            self.expect = Some(Expect::Version(current.version.clone()));
        }
        let origin = format!("{}@{}", self.id, current.version);
        match self.apply_text(from, &origin, &current.text).await {
            Ok(()) => {
                self.status.running_version = Some(current.version.clone());
                self.status.phase = Phase::Running;
            }
            Err(reason) => {
                tracing::error!("the store's newest config is refused: {reason}");
                self.status.last_error = Some(reason.clone());
                self.status.phase = match self.fall_back(from, &current.version).await {
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
        self.saved = if Some(from) == self.writer {
            self.render().ok()
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
            match self.apply_text(from, &origin, &text).await {
                Ok(()) => {
                    self.status.running_version = Some(entry.version.clone());
                    return Some(entry.version);
                }
                Err(reason) => {
                    tracing::warn!("history version {} refused too: {reason}", entry.version)
                }
            }
        }
        None
    }

    async fn open_watch(&mut self) -> Option<Watch> {
        let store = &self.stores[self.writer?];
        match store
            .watch(
                &self.id,
                self.status.store_version.clone(),
                self.settings.poll,
            )
            .await
        {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("cannot watch {} for edits yet: {e}", store.describe());
                None
            }
        }
    }

    /// Renders the running config and writes it if it differs from the saved one.
    async fn snapshot(&mut self, why: &str) {
        if self.writer.is_none() {
            tracing::warn!("no writable store: snapshot ({why}) not saved");
            return;
        }
        if self.edit.pending() || self.settings.hold.as_ref().is_some_and(|h| h.exists()) {
            tracing::info!("snapshot ({why}) held: a commit-confirm is pending");
            self.held = true;
            self.retry_at = Some(Instant::now() + Duration::from_secs(1));
            return;
        }
        self.held = false;
        let text = match self.render() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("reading the running config for a snapshot: {e}");
                self.status.last_error = Some(e);
                self.status.counters.snapshot_failures += 1;
                self.schedule_retry();
                return;
            }
        };
        if self.saved.as_deref() == Some(text.as_str()) {
            tracing::debug!("snapshot ({why}): unchanged");
            self.pending = None;
            self.status.pending_snapshot = false;
            self.publish();
            return;
        }
        tracing::info!("snapshot ({why}): the running config changed");
        self.pending = Some(text);
        self.flush().await;
    }

    fn schedule_retry(&mut self) {
        let delay = self.retry.next_delay();
        self.retry_at = Some(Instant::now() + delay);
        self.publish();
    }

    /// Writes the pending snapshot with compare-and-swap.
    async fn flush(&mut self) {
        let (Some(text), Some(w)) = (self.pending.clone(), self.writer) else {
            return;
        };
        self.status.pending_snapshot = true;
        let expect = match self.expect.clone() {
            Some(e) => e,
            None => match self.stores[w].get(&self.id).await {
                // The writer was not the boot store: what it holds was not seen yet.
                Ok(None) => Expect::Absent,
                Ok(Some(s)) => {
                    self.status.store_version = Some(s.version.clone());
                    self.expect = Some(Expect::Version(s.version.clone()));
                    if self.saved.is_none() {
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
                self.saved = Some(text);
                self.pending = None;
                self.expect = Some(Expect::Version(v.clone()));
                self.status.running_version = Some(v.clone());
                self.status.store_version = Some(v);
                self.status.pending_snapshot = false;
                self.status.counters.snapshots += 1;
                if matches!(self.status.phase, Phase::Degraded(_) | Phase::Failed(_)) {
                    self.status.phase = Phase::Running;
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
                        self.expect = Some(Expect::Absent);
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
        self.status.pending_snapshot = true;
        self.retry_at = Some(Instant::now() + delay);
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
        self.pending = None;
        self.saved = Some(ours);
        self.adopt(theirs, "newer config in the store").await;
    }

    /// Applies a config the store has and the router does not run, after saving the
    /// running config into history (unless it is there already).
    async fn adopt(&mut self, theirs: Stored, why: &str) {
        tracing::info!("{why}: applying store version {}", theirs.version);
        let w = self.writer.unwrap_or_default();
        let running = match self.render() {
            Ok(running) => running,
            Err(e) => {
                tracing::error!(
                    "not applying store version {}: reading the running config: {e}",
                    theirs.version
                );
                return;
            }
        };
        if self.saved.as_deref() != Some(running.as_str()) {
            let message = message(
                WriteKind::Apply,
                &format!(
                    "running config of {} before store version {} was applied",
                    self.id, theirs.version
                ),
            );
            if let Err(e) = self.stores[w].archive(&self.id, &running, &message).await {
                tracing::warn!("not applying store version {} yet: {e}", theirs.version);
                self.pending = Some(running);
                return self.write_failed(e);
            }
        }
        let previous = self.before_edit(w, running).await;
        self.status.store_version = Some(theirs.version.clone());
        self.expect = Some(Expect::Version(theirs.version.clone()));
        let origin = format!("{}@{}", self.id, theirs.version);
        match self.apply_text(w, &origin, &theirs.text).await {
            Ok(()) => {
                self.status.counters.store_edits += 1;
                self.status.running_version = Some(theirs.version.clone());
                self.status.phase = Phase::Running;
                self.await_confirm(theirs, previous);
            }
            Err(reason) => {
                tracing::error!(
                    "store version {} refused, the router keeps its running config: {reason}",
                    theirs.version
                );
                self.status.last_error = Some(reason.clone());
                self.status.phase = Phase::Degraded(format!(
                    "store version {} refused ({reason}); running {}",
                    theirs.version,
                    self.status
                        .running_version
                        .as_ref()
                        .map_or("the boot state".to_owned(), |v| v.to_string())
                ));
            }
        }
        self.pending = None;
        self.status.pending_snapshot = false;
        self.saved = self.render().ok();
        self.publish();
    }

    /// SIGHUP: save what runs, then take the store's config again.
    async fn reload(&mut self) {
        tracing::info!("reload: pulling the config again");
        self.snapshot("before reload").await;
        let Some(w) = self.writer else { return };
        match self.stores[w].get(&self.id).await {
            Ok(Some(s)) if self.edit.refused(&s.version) => tracing::warn!(
                "reload: store version {} was undone (the store was not reachable after it); not applying it again",
                s.version
            ),
            Ok(Some(s)) => {
                let origin = format!("{}@{}", self.id, s.version);
                if self.status.store_version.as_ref() != Some(&s.version) {
                    self.adopt(s, "reload").await;
                } else if let Err(reason) = self.apply_text(w, &origin, &s.text).await {
                    tracing::error!("reload: {reason}");
                    self.status.last_error = Some(reason);
                    self.publish();
                }
            }
            Ok(None) => tracing::warn!("reload: the store has no config for {}", self.id),
            Err(e) => tracing::warn!("reload: {e}"),
        }
    }

    /// The final snapshot, bounded in time.
    async fn shutdown(&mut self) {
        tracing::info!(
            "stopping: final snapshot (at most {:?})",
            self.settings.stop_timeout
        );
        let bound = self.settings.stop_timeout;
        let done = tokio::time::timeout(bound, async {
            self.snapshot("shutdown").await;
            while self.pending.is_some() {
                let at = self.retry_at.unwrap_or_else(Instant::now);
                sleep_until(at).await;
                self.retry_at = None;
                self.flush().await;
            }
        })
        .await;
        if done.is_err() {
            tracing::error!("the final snapshot could not be saved within {bound:?}; it is lost");
        }
        // Peers move their traffic away before the sessions drop (BGP graceful shutdown).
        let router = &mut self.router;
        tokio::task::block_in_place(|| {
            if let Ok(valid) = router.running().map(|c| c.validate()) {
                match valid {
                    Ok(v) => router.stopping(&v),
                    Err(_) => tracing::warn!(
                        "the running config does not validate; nothing announced before stopping"
                    ),
                }
            }
        });
        self.set_phase(Phase::Stopped);
    }
}

async fn recv_watch(watch: &mut Option<Watch>) -> Option<Result<StoreEvent, StoreError>> {
    match watch {
        Some(w) => w.recv().await,
        None => std::future::pending().await,
    }
}
