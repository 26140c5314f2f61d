//! One simulated router, using the store as `router-agent daemon` does: a store client for
//! its config (a watch kept open, a snapshot written with compare-and-swap) and a second
//! one for its status reports (the daemon's, so reports never wait behind a snapshot).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use router_store_client::note::{message, WriteKind};
use router_store_client::status::{unix_now, StatusReport};
use router_store_client::{ConfigStore, Expect, RouterId, StoreError, StoreEvent, Stored, Version};
use tokio::sync::watch;

use crate::Shared;

/// The marker line an edit appends; a watcher reads the round back from it.
pub const EDIT_MARK: &str = "# sim: edit ";
const SNAPSHOT_MARK: &str = "# sim: snapshot ";

/// The config text as the router would render it: the base, the edits it took, and its
/// snapshot counter (so every snapshot differs from the one before).
pub fn render(base: &str, id: &RouterId, edits: &[u32], snapshot: u64) -> String {
    let mut text = base.replacen("edge1.branch3", id.as_str(), 1);
    for e in edits {
        text.push_str(&format!("{EDIT_MARK}{e}\n"));
    }
    text.push_str(&format!("{SNAPSHOT_MARK}{snapshot}\n"));
    text
}

/// The edit rounds a config text holds.
pub fn edits_in(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| l.strip_prefix(EDIT_MARK))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// What the router runs: the store version it last wrote or took, and the edits in it.
#[derive(Debug, Default)]
struct Running {
    version: Option<Version>,
    edits: Vec<u32>,
    snapshot: u64,
}

#[derive(Debug)]
pub struct Router {
    pub index: usize,
    pub id: RouterId,
    pub config: Arc<dyn ConfigStore>,
    pub reports: Arc<dyn ConfigStore>,
    pub shared: Arc<Shared>,
}

impl Router {
    /// Boots (reads its config, opens the watch, reports), then runs until `stop` is set.
    /// `up` hears when it is running.
    pub async fn run(
        self: Arc<Self>,
        mut stop: watch::Receiver<bool>,
        up: tokio::sync::mpsc::Sender<()>,
    ) {
        let s = self.shared.clone();
        let running = Arc::new(Mutex::new(Running::default()));
        let boot = match self.config.get(&self.id).await {
            Ok(found) => found,
            Err(e) => {
                s.stats.errors.add("boot read", &e);
                None
            }
        };
        if let (Some(stored), Ok(mut r)) = (&boot, running.lock()) {
            r.version = Some(stored.version.clone());
            r.edits = edits_in(&stored.text);
        }
        let since = boot.map(|b| b.version);
        let events = match self.config.watch(&self.id, since, s.poll).await {
            Ok(w) => Some(w),
            Err(e) => {
                s.stats.errors.add("opening the watch", &e);
                None
            }
        };
        let boot_unix = unix_now();
        self.report(boot_unix).await;
        let _ = up.send(()).await;
        let phase = |spread: usize| {
            s.minute
                .mul_f64(((self.index * spread) % s.routers) as f64 / s.routers as f64)
        };
        let t0 = tokio::time::Instant::now();
        let mut snapshots = tokio::time::interval_at(t0 + phase(1), s.minute);
        let mut beats = tokio::time::interval_at(t0 + phase(7), s.minute);
        for i in [&mut snapshots, &mut beats] {
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let watching = events.map(|w| tokio::spawn(self.clone().follow(w, running.clone())));
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = snapshots.tick() => self.snapshot(&running).await,
                _ = beats.tick() => self.report(boot_unix).await,
            }
        }
        if let Some(w) = watching {
            w.abort();
        }
    }

    /// Takes every change the watch reports (as the daemon applies it) and notes when an
    /// edit round arrived.
    async fn follow(
        self: Arc<Self>,
        mut events: router_store_client::Watch,
        running: Arc<Mutex<Running>>,
    ) {
        let s = &self.shared;
        let mut seen_round = 0;
        while let Some(event) = events.recv().await {
            let stored = match event {
                Ok(StoreEvent::Changed(stored)) => stored,
                Ok(StoreEvent::Deleted) => continue,
                Err(e) => {
                    s.stats.errors.add("watch", &e);
                    // The daemon opens a new watch after a failure.
                    match self.reopen(&running).await {
                        Some(w) => {
                            events = w;
                            continue;
                        }
                        None => return,
                    }
                }
            };
            let edits = edits_in(&stored.text);
            let newest = edits.iter().copied().max().unwrap_or(0);
            if newest > seen_round {
                seen_round = newest;
                s.notified(newest, self.index, Instant::now());
            }
            if let Ok(mut r) = running.lock() {
                r.version = Some(stored.version);
                r.edits = edits;
            }
        }
    }

    async fn reopen(&self, running: &Mutex<Running>) -> Option<router_store_client::Watch> {
        tokio::time::sleep(self.shared.minute / 10).await;
        let since = running.lock().ok().and_then(|r| r.version.clone());
        match self.config.watch(&self.id, since, self.shared.poll).await {
            Ok(w) => Some(w),
            Err(e) => {
                self.shared.stats.errors.add("reopening the watch", &e);
                None
            }
        }
    }

    /// One snapshot: compare-and-swap against the version it runs; on a conflict (an edit
    /// landed meanwhile) it takes the store's config and writes again, once.
    async fn snapshot(&self, running: &Mutex<Running>) {
        let s = &self.shared;
        let message = message(WriteKind::Snapshot, &format!("snapshot of {}", self.id));
        for attempt in 0..2 {
            let Some((text, expect)) = running.lock().ok().map(|mut r| {
                r.snapshot += 1;
                let expect = r.version.clone().map_or(Expect::Absent, Expect::Version);
                (render(&s.base, &self.id, &r.edits, r.snapshot), expect)
            }) else {
                return;
            };
            let started = Instant::now();
            match self.config.put(&self.id, &text, &expect, &message).await {
                Ok(v) => {
                    s.stats.snapshot.add(started.elapsed());
                    if let Ok(mut r) = running.lock() {
                        r.version = Some(v);
                    }
                    return;
                }
                Err(StoreError::Conflict { .. }) if attempt == 0 => {
                    s.stats
                        .conflicts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.take_current(running).await;
                }
                Err(e) => {
                    s.stats.errors.add("snapshot", &e);
                    return;
                }
            }
        }
    }

    async fn take_current(&self, running: &Mutex<Running>) {
        match self.config.get(&self.id).await {
            Ok(Some(Stored { text, version })) => {
                if let Ok(mut r) = running.lock() {
                    r.version = Some(version);
                    r.edits = edits_in(&text);
                }
            }
            Ok(None) => {}
            Err(e) => self.shared.stats.errors.add("reading after a conflict", &e),
        }
    }

    /// One heartbeat: a status record like the daemon's.
    async fn report(&self, boot_unix_time: u64) {
        let s = &self.shared;
        let record = StatusReport {
            agent_version: concat!("fleet-sim/", env!("CARGO_PKG_VERSION")).into(),
            unix_time: unix_now(),
            boot_unix_time,
            heartbeat_secs: 60,
            phase: "running".into(),
            reason: None,
            running_version: None,
            store_version: None,
            snapshot_pending: false,
            last_error: None,
            bgp: Some(router_store_client::status::BgpCount {
                up: 2,
                total: 2,
                bird_unreachable: false,
            }),
            last_apply: None,
            owned: router_store_client::status::Owned {
                routes: 40,
                links: 6,
                rules: 2,
            },
        };
        let started = Instant::now();
        match self.reports.put_status(&self.id, &record.to_bytes()).await {
            Ok(()) => s.stats.heartbeat.add(started.elapsed()),
            Err(e) => s.stats.errors.add("heartbeat", &e),
        }
    }
}
