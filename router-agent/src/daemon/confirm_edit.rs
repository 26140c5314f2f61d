//! Commit-confirm for store-side edits (issue 15 finding 5): an edit the daemon applies
//! from the store stays only if the store still answers within [`Settings::edit_confirm`]
//! (a `get` of the router's config succeeds) and, with BGP, the sessions that were
//! established before it are established again (those the edit removed aside). Otherwise the config that ran before is
//! applied again through the same path, the edit's version is marked (status, metrics,
//! a history entry once the store is back) and not applied again.
//!
//! [`Settings::edit_confirm`]: super::Settings::edit_confirm

use std::sync::Arc;

use tokio::time::Instant;

use super::{error_chain, Daemon, Phase};
use crate::bgp::Readout;
use crate::model::{self, bgp::ListFile};
use crate::router::Router;
use crate::store::note::message;
use crate::store::{Stored, Version, WriteKind};

/// The config that ran before an edit, with its list files as the store had them then
/// (the store may be out of reach when it is needed again).
/// The longest one probe of the store may take.
const PROBE_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone)]
pub(super) struct Previous {
    text: String,
    version: Option<Version>,
    files: Vec<(ListFile, Result<String, String>)>,
    /// The BGP sessions established before the edit.
    sessions_up: Vec<String>,
}

/// Reads BIRD's sessions now (blocking); `None` when the router runs no BGP.
#[derive(Clone)]
pub(super) struct BgpRead(Arc<dyn Fn() -> Option<Readout> + Send + Sync>);

impl std::fmt::Debug for BgpRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BgpRead")
    }
}

impl BgpRead {
    /// One readout, bounded like the metrics' poll (a BIRD that hangs counts as down).
    async fn read(&self) -> Option<Readout> {
        let read = self.0.clone();
        let bound = super::super::bgp_poll::ANSWER_WITHIN;
        match tokio::time::timeout(bound, tokio::task::spawn_blocking(move || read())).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Some(Readout::Unreachable(format!("reading BIRD failed: {e}"))),
            Err(_) => Some(Readout::Unreachable(format!(
                "birdc gave no answer within {bound:?}"
            ))),
        }
    }
}

/// Whether the sessions in `before` that BIRD still has are established `now`.
fn sessions_back(before: &[String], now: Option<Readout>) -> Result<(), String> {
    match now {
        None => Ok(()),
        Some(Readout::Unreachable(why)) => Err(format!("BIRD does not answer: {why}")),
        Some(Readout::Sessions(now)) => {
            let down: Vec<&str> = now
                .iter()
                .filter(|s| before.contains(&s.name) && !s.established())
                .map(|s| s.name.as_str())
                .collect();
            if down.is_empty() {
                Ok(())
            } else {
                Err(format!("BGP sessions not back: {}", down.join(", ")))
            }
        }
    }
}

#[derive(Debug)]
struct Pending {
    edit: Stored,
    previous: Previous,
    until: Instant,
    next_probe: Instant,
    last_error: String,
}

/// An undone edit; `recorded` once its history entry is written.
#[derive(Debug)]
struct Undone {
    edit: Stored,
    reason: String,
    recorded: bool,
    next_try: Instant,
}

#[derive(Debug, Default)]
pub(super) struct EditState {
    pending: Option<Pending>,
    undone: Option<Undone>,
}

impl EditState {
    pub(super) fn pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether `version` is the edit last undone (not to be applied again).
    pub(super) fn refused(&self, version: &Version) -> bool {
        self.undone
            .as_ref()
            .is_some_and(|u| &u.edit.version == version)
    }

    /// When [`Daemon::confirm_tick`] is due.
    pub(super) fn due(&self) -> Option<Instant> {
        match (&self.pending, &self.undone) {
            (Some(p), _) => Some(p.next_probe.min(p.until)),
            (None, Some(u)) if !u.recorded => Some(u.next_try),
            _ => None,
        }
    }
}

impl<R: Router + 'static> Daemon<R> {
    /// With BGP: `read` gives BIRD's sessions now, and a store-side edit is confirmed only
    /// once the sessions established before it are established again.
    pub fn with_bgp(mut self, read: impl Fn() -> Option<Readout> + Send + Sync + 'static) -> Self {
        self.bgp = Some(BgpRead(Arc::new(read)));
        self
    }

    /// What runs before an edit from store `from` is applied: `running` (its rendered text)
    /// and its list files, read now while the store answers. An edit applied while another
    /// waits for its confirm keeps the older one's: the config last confirmed.
    pub(super) async fn before_edit(&mut self, from: usize, running: String) -> Option<Previous> {
        self.settings.edit_confirm?;
        if let Some(p) = &self.m.edit.pending {
            return Some(p.previous.clone());
        }
        let mut files = Vec::new();
        if let Ok(config) = model::parse("running config", &running) {
            for name in config.list_files() {
                let read = self.fetch_file(from, &name).await;
                files.push((name, read));
            }
        }
        let sessions_up = match &self.bgp {
            Some(bgp) => match bgp.read().await {
                Some(Readout::Sessions(s)) => s
                    .into_iter()
                    .filter(|s| s.established())
                    .map(|s| s.name)
                    .collect(),
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        Some(Previous {
            text: running,
            version: self.m.running_version.clone(),
            files,
            sessions_up,
        })
    }

    /// Starts the confirm window of `edit`, just applied.
    pub(super) fn await_confirm(&mut self, edit: Stored, previous: Option<Previous>) {
        let (Some(window), Some(previous)) = (self.settings.edit_confirm, previous) else {
            return;
        };
        tracing::info!(
            "store version {} applied; undone unless the store answers within {window:?}",
            edit.version
        );
        let now = Instant::now();
        self.m.edit.undone = None;
        self.m.edit.pending = Some(Pending {
            edit,
            previous,
            until: now + window,
            next_probe: now + self.settings.edit_probe,
            last_error: "the store was not reachable: not asked yet".to_owned(),
        });
    }

    /// Asks the store; confirms the pending edit when it answers, undoes it when the
    /// window is over; records an undone edit in the store once it answers again.
    pub(super) async fn confirm_tick(&mut self) {
        let Some(w) = self.writer else {
            // Edits come only through a writer; nothing to ask without one.
            self.m.edit.pending = None;
            self.m.edit.undone = None;
            return;
        };
        if self.m.edit.pending.is_none() {
            return self.record_undone(w).await;
        }
        let until = self
            .m
            .edit
            .pending
            .as_ref()
            .map_or_else(Instant::now, |p| p.until);
        // One probe is bounded (a blackholed path hangs rather than fails), so SIGTERM and
        // the watch are not held up for the whole window.
        let now = Instant::now();
        let bound = (now + self.settings.edit_probe.max(PROBE_BOUND))
            .min(until.max(now + self.settings.edit_probe));
        let probe = tokio::time::timeout_at(bound, self.stores[w].get(&self.id)).await;
        let probe = match probe {
            Ok(Ok(_)) => Ok(Ok(self.sessions_back().await)),
            Ok(Err(e)) => Ok(Err(e)),
            Err(e) => Err(e),
        };
        let Some(p) = self.m.edit.pending.as_mut() else {
            return;
        };
        match probe {
            Ok(Ok(Err(why))) => p.last_error = why,
            Ok(Ok(Ok(()))) => {
                tracing::info!(
                    "store version {} confirmed: the store answers",
                    p.edit.version
                );
                self.m.edit.pending = None;
                self.status.counters.edits_confirmed += 1;
                self.publish();
            }
            Ok(Err(e)) => {
                p.last_error = format!("the store was not reachable: {}", error_chain(&e))
            }
            Err(_) => p.last_error = "the store was not reachable: no answer".to_owned(),
        }
        let Some(p) = self.m.edit.pending.as_mut() else {
            return;
        };
        if Instant::now() < p.until {
            p.next_probe = Instant::now() + self.settings.edit_probe;
            return;
        }
        if let Some(p) = self.m.edit.pending.take() {
            self.undo(p).await;
        }
    }

    /// Whether the BGP sessions up before the pending edit are up again.
    async fn sessions_back(&self) -> Result<(), String> {
        let (Some(bgp), Some(p)) = (&self.bgp, &self.m.edit.pending) else {
            return Ok(());
        };
        if p.previous.sessions_up.is_empty() {
            return Ok(());
        }
        sessions_back(&p.previous.sessions_up, bgp.read().await)
    }

    /// Applies the config that ran before the edit again.
    async fn undo(&mut self, p: Pending) {
        let window = self.settings.edit_confirm.unwrap_or_default();
        let reason = format!(
            "not confirmed within {window:?} of applying it ({})",
            p.last_error
        );
        let was = p
            .previous
            .version
            .as_ref()
            .map_or("the config before it".to_owned(), |v| v.to_string());
        tracing::error!(
            "store version {} undone: {reason}; applying {was} again",
            p.edit.version
        );
        let origin = match &p.previous.version {
            Some(v) => format!("{}@{v}", self.id),
            None => format!("{} (running before {})", self.id, p.edit.version),
        };
        let result = match model::parse(&origin, &p.previous.text) {
            Ok(mut config) => {
                for (name, read) in p.previous.files.clone() {
                    config.set_file(name, read);
                }
                self.apply_config(&origin, &p.previous.text, config)
                    .await
                    .map_err(|e| e.reason)
            }
            Err(e) => Err(e.to_string()),
        };
        self.status.counters.edits_undone += 1;
        self.status.last_error = Some(format!("store version {} undone: {reason}", p.edit.version));
        self.m.phase = match result {
            Ok(()) => {
                self.m.running_version = p.previous.version.clone();
                Phase::Degraded(format!(
                    "store version {} undone: {reason}; running {was}",
                    p.edit.version
                ))
            }
            Err(e) => {
                tracing::error!("applying {was} again failed too: {e}");
                Phase::Failed(format!(
                    "store version {} undone: {reason}; applying {was} again failed: {e}",
                    p.edit.version
                ))
            }
        };
        // What runs is what was saved before the edit: no snapshot writes it back over the
        // store's version, which stays for the operator to fix.
        self.m.saved = self.render().await.ok();
        self.m.edit.undone = Some(Undone {
            edit: p.edit,
            reason,
            recorded: false,
            next_try: Instant::now(),
        });
        self.publish();
    }

    /// Keeps the undone edit in the store's history with the reason (once the store answers).
    async fn record_undone(&mut self, w: usize) {
        let Some(u) = self.m.edit.undone.as_ref() else {
            return;
        };
        let note = message(
            WriteKind::Undone,
            &format!(
                "store version {} undone by {}: {}",
                u.edit.version, self.id, u.reason
            ),
        );
        let result = self.stores[w].archive(&self.id, &u.edit.text, &note).await;
        let Some(u) = self.m.edit.undone.as_mut() else {
            return;
        };
        match result {
            Ok(()) => u.recorded = true,
            Err(e) => {
                tracing::debug!("recording the undone edit: {e}; trying again");
                u.next_try = Instant::now() + self.settings.edit_probe;
            }
        }
    }
}
