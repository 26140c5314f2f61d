//! The daemon's loop, against any [`Router`] and [`ConfigStore`]s: pull at boot (with
//! retries, fallback stores and fallback versions), then snapshot on change, periodically
//! and at shutdown, with compare-and-swap; store-side edits are applied after the running
//! config is saved into history.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

#[path = "boot.rs"]
mod boot;
#[path = "confirm_edit.rs"]
mod confirm_edit;
#[path = "machine.rs"]
mod machine;
#[path = "snapshot.rs"]
mod snapshot;

use self::machine::{Machine, Wake, WatchState};
use super::backoff::Backoff;
use super::persist::Persisted;
use super::status::{Phase, Status};
use crate::model::{self, bgp::ListFile};
use crate::router::{Router, RouterError};
use crate::store::{error_chain, ConfigStore, FileName, RouterId, StoreError, StoreEvent};

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
    /// The static management address and route the boot contract set: left out of
    /// snapshots unless the config names them.
    pub boot_state: Option<model::BootState>,
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
            boot_state: None,
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
    /// Used on a blocking thread ([`Daemon::on_router`]), never on the runtime's.
    router: Arc<Mutex<R>>,
    settings: Settings,
    /// The state machine; [`Status`] mirrors it.
    m: Machine,
    /// What is reported only: counters, the last error and apply.
    status: Status,
    status_tx: watch::Sender<Status>,
    retry: Backoff,
    files: Vec<Persisted>,
    /// BIRD's sessions, for the confirm of a store-side edit.
    bgp: Option<confirm_edit::BgpRead>,
}

impl<R: Router> std::fmt::Debug for Daemon<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("id", &self.id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Why a config was not applied.
#[derive(Debug)]
struct NotApplied {
    reason: String,
    /// Nothing was written: the config never reached the router, or the router refused it
    /// before it wrote anything.
    untouched: bool,
}

impl NotApplied {
    fn invalid(e: impl std::fmt::Display) -> NotApplied {
        NotApplied {
            reason: e.to_string(),
            untouched: true,
        }
    }
}

fn lock<R>(router: &Mutex<R>) -> MutexGuard<'_, R> {
    // A panic while the router was held was already reported (apply_caught) or raised.
    router.lock().unwrap_or_else(|p| p.into_inner())
}

impl<R: Router + 'static> Daemon<R> {
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
            router: Arc::new(Mutex::new(router)),
            settings,
            m: Machine::default(),
            status,
            status_tx,
            retry,
            files: Vec::new(),
            bgp: None,
        };
        (daemon, status_rx)
    }

    /// Files restored from the store at boot (uploaded when the store has none).
    pub fn with_files(mut self, files: Vec<Persisted>) -> Self {
        self.files = files;
        self
    }

    pub fn router(&self) -> MutexGuard<'_, R> {
        lock(&self.router)
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Copies the state machine into the status and sends it.
    fn publish(&mut self) {
        let s = &mut self.status;
        s.phase = self.m.phase.clone();
        s.running_version = self.m.running_version.clone();
        s.store_version = self.m.store_version.clone();
        s.pending_snapshot = self.m.write.text().is_some();
        self.status_tx.send_replace(s.clone());
    }

    fn set_phase(&mut self, phase: Phase) {
        self.m.phase = phase;
        self.publish();
    }

    /// Runs `f` on the router on a blocking thread (netlink, nft and birdc block): the
    /// runtime's threads stay free, and tests run on a paused clock.
    async fn on_router<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut R) -> T + Send + 'static,
    ) -> Result<T, RouterError> {
        let router = self.router.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&router)))
            .await
            .map_err(|e| match e.try_into_panic() {
                Ok(p) => RouterError::Panicked(crate::reconcile::panic_text(&*p)),
                Err(e) => RouterError::Panicked(e.to_string()),
            })
    }

    /// The running config, read in full.
    async fn read_running(&mut self) -> Result<model::Config, String> {
        self.on_router(|r| r.running())
            .await
            .and_then(|r| r)
            .map_err(|e| error_chain(&e))
    }

    /// The running config as TOML, laid out like the saved text and with its table names
    /// (the kernel keeps neither).
    async fn render(&mut self) -> Result<String, String> {
        self.render_read().await.map(|(text, _)| text)
    }

    /// [`Daemon::render`], and the config it rendered.
    async fn render_read(&mut self) -> Result<(String, model::Config), String> {
        let (config, before) = self
            .on_router(|r| r.running().map(|c| (c, r.before_agent())))
            .await
            .and_then(|r| r)
            .map_err(|e| error_chain(&e))?;
        Ok((
            model::render_snapshot(
                self.m.saved.as_deref(),
                &config,
                before.as_ref(),
                self.settings.boot_state.as_ref(),
            ),
            config,
        ))
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
    async fn apply_text(
        &mut self,
        from: usize,
        origin: &str,
        text: &str,
    ) -> Result<(), NotApplied> {
        let mut config = model::parse(origin, text).map_err(NotApplied::invalid)?;
        for name in config.list_files() {
            tracing::debug!("list file {name} from the store");
            let read = self.fetch_file(from, &name).await;
            config.set_file(name, read);
        }
        self.apply_config(origin, text, config).await
    }

    /// Validates a parsed config (its list files set) and applies it.
    async fn apply_config(
        &mut self,
        origin: &str,
        text: &str,
        config: model::Config,
    ) -> Result<(), NotApplied> {
        let valid = model::validate_text(config, origin, text).map_err(NotApplied::invalid)?;
        let valid = Arc::new(valid);
        let started = std::time::Instant::now();
        let v = valid.clone();
        let result = self
            .on_router(move |r| crate::router::apply_caught(r, &v))
            .await
            .and_then(|r| r);
        self.status
            .record_apply(origin, started.elapsed(), result.is_ok(), &valid);
        match result {
            Ok(applied) => {
                // The text the router now runs: the next render keeps its comments and table
                // names (callers that applied it from elsewhere than the writer reset this).
                self.m.saved = Some(text.to_owned());
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
                Err(NotApplied {
                    reason: error_chain(&e),
                    // The router says so, before it wrote anything.
                    untouched: matches!(e, RouterError::Refused(_)),
                })
            }
        }
    }

    /// Runs until [`Event::Stop`] or until `events` closes: boot, then the state machine
    /// moves on each event, store event and timer ([`Wake`]).
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>) -> Result<Self, StoppedWaiting> {
        let (from, found) = self.pull_at_boot(&mut events).await?;
        self.m.files_due = self.sync_files(from, false).await;
        self.start(from, found).await;
        if let Some(w) = self.open_watch().await {
            self.m.watch = WatchState::Open(w);
        }
        self.m.periodic_at = self.settings.periodic.map(|p| Instant::now() + p);
        loop {
            let wake = self.m.next_wake();
            let at = wake.map_or_else(Instant::now, |(at, _)| at);
            tokio::select! {
                ev = events.recv() => match ev {
                    None | Some(Event::Stop) => {
                        self.shutdown().await;
                        return Ok(self);
                    }
                    Some(Event::Changed(what)) => {
                        tracing::debug!("change seen: {what}");
                        self.m.changed(self.settings.debounce, self.settings.max_debounce);
                    }
                    Some(Event::Reload) => self.reload().await,
                },
                item = recv_watch(&mut self.m.watch) => self.on_store_event(item).await,
                () = sleep_until(at), if wake.is_some() => {
                    if let Some((_, wake)) = wake {
                        self.on_wake(wake, from).await;
                    }
                }
            }
        }
    }

    /// A timer of the state machine is due.
    async fn on_wake(&mut self, wake: Wake, from: usize) {
        match wake {
            Wake::Debounced => {
                self.m.debounce = None;
                self.snapshot("running state changed").await;
            }
            Wake::Write => {
                if matches!(self.m.write, machine::Write::Held { .. }) {
                    self.snapshot("after a held snapshot").await;
                } else {
                    self.flush().await;
                }
            }
            Wake::Watch => {
                self.m.watch = match self.open_watch().await {
                    Some(w) => WatchState::Open(w),
                    None => WatchState::Closed(Instant::now() + self.settings.poll),
                };
            }
            Wake::Files => {
                self.m.files_due = self.sync_files(self.writer.unwrap_or(from), true).await;
            }
            Wake::Confirm => self.confirm_tick().await,
            Wake::Periodic => {
                self.m.periodic_at = self.settings.periodic.map(|p| Instant::now() + p);
                self.snapshot("periodic").await;
            }
        }
    }

    /// What the store's watch brought.
    async fn on_store_event(&mut self, item: Option<Result<StoreEvent, StoreError>>) {
        match item {
            Some(Ok(StoreEvent::Changed(s))) => {
                if self.m.store_version.as_ref() != Some(&s.version)
                    && !self.m.edit.refused(&s.version)
                {
                    self.adopt(s, "store-side edit").await;
                }
            }
            Some(Ok(StoreEvent::Deleted)) => {
                tracing::warn!(
                    "the store's config of {} was deleted; the next snapshot writes it again",
                    self.id
                );
                self.m.expect = Some(crate::store::Expect::Absent);
                self.m.saved = None;
                self.snapshot("config deleted in the store").await;
            }
            Some(Err(e)) => {
                tracing::warn!("watching the store: {e}; watching again shortly");
                self.m.watch = WatchState::Closed(Instant::now() + self.settings.poll);
            }
            None => self.m.watch = WatchState::Closed(Instant::now() + self.settings.poll),
        }
    }
}

async fn recv_watch(watch: &mut WatchState) -> Option<Result<StoreEvent, StoreError>> {
    match watch {
        WatchState::Open(w) => w.recv().await,
        _ => std::future::pending().await,
    }
}
