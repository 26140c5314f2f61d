//! The daemon's loop against an in-memory store and router.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

use super::status::{Phase, Status};
use super::{Daemon, Event, Settings};
use crate::model::{render_config, Config, ValidConfig};
use crate::router::{Applied, FakeRouter, FakeState, Router, RouterError};
use crate::store::*;

/// Shares one [`MemoryStore`] between the daemon and the test.
#[derive(Debug, Clone)]
struct Shared(Arc<MemoryStore>);

#[async_trait]
impl ConfigStore for Shared {
    fn describe(&self) -> String {
        self.0.describe()
    }
    async fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError> {
        self.0.get(id).await
    }
    async fn put(
        &self,
        id: &RouterId,
        t: &str,
        e: &Expect,
        m: &str,
    ) -> Result<Version, StoreError> {
        self.0.put(id, t, e, m).await
    }
    async fn archive(&self, id: &RouterId, t: &str, m: &str) -> Result<(), StoreError> {
        self.0.archive(id, t, m).await
    }
    async fn history(&self, id: &RouterId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.0.history(id).await
    }
    async fn get_version(&self, id: &RouterId, v: &Version) -> Result<String, StoreError> {
        self.0.get_version(id, v).await
    }
    async fn get_file(&self, id: &RouterId, n: &FileName) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get_file(id, n).await
    }
    async fn put_file(&self, id: &RouterId, n: &FileName, b: &[u8]) -> Result<(), StoreError> {
        self.0.put_file(id, n, b).await
    }
    async fn list_routers(&self) -> Result<Vec<RouterId>, StoreError> {
        self.0.list_routers().await
    }
    async fn put_status(&self, id: &RouterId, r: &[u8]) -> Result<(), StoreError> {
        self.0.put_status(id, r).await
    }
    async fn get_status(&self, id: &RouterId) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get_status(id).await
    }
    async fn watch(
        &self,
        id: &RouterId,
        s: Option<Version>,
        p: Duration,
    ) -> Result<Watch, StoreError> {
        self.0.watch(id, s, p).await
    }
}

/// The fake router, counting the full reads of its running config.
#[derive(Debug, Clone, Default)]
struct Counted {
    fake: FakeRouter,
    reads: Arc<AtomicUsize>,
}

impl Counted {
    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.fake.state()
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl Router for Counted {
    fn apply(&mut self, config: &ValidConfig) -> Result<Applied, RouterError> {
        self.fake.apply(config)
    }

    fn running(&mut self) -> Result<Config, RouterError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.fake.running()
    }

    fn before_agent(&self) -> Option<Config> {
        self.fake.before_agent()
    }
}

fn settings() -> Settings {
    Settings {
        debounce: Duration::from_millis(20),
        max_debounce: Duration::from_millis(100),
        periodic: None,
        poll: Duration::from_millis(50),
        stop_timeout: Duration::from_millis(1500),
        retry_initial: Duration::from_millis(20),
        retry_max: Duration::from_millis(200),
        hold: None,
        file_recheck: Duration::from_millis(30),
        on_restore: None,
        fallback_versions: 20,
        edit_confirm: Some(Duration::from_secs(2)),
        edit_probe: Duration::from_millis(20),
        boot_state: None,
    }
}

fn config(hostname: &str) -> String {
    format!("version = 1\nhostname = \"{hostname}\"\n")
}

fn parsed(text: &str) -> Config {
    toml::from_str(text).expect("test config parses")
}

fn id() -> RouterId {
    RouterId::new("r1").expect("valid id")
}

fn hold_file() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ra-hold-{}", std::process::id()))
}

struct Harness {
    store: Arc<MemoryStore>,
    router: Counted,
    events: mpsc::Sender<Event>,
    status: watch::Receiver<Status>,
    task: tokio::task::JoinHandle<Result<Daemon<Counted>, super::StoppedWaiting>>,
}

impl Harness {
    fn start(store: Arc<MemoryStore>, router: FakeRouter) -> Harness {
        Harness::with(store, router, settings())
    }

    fn with(store: Arc<MemoryStore>, router: FakeRouter, settings: Settings) -> Harness {
        let router = Counted {
            fake: router,
            ..Counted::default()
        };
        let shared = Box::new(Shared(store.clone()));
        Harness::with_store(store, shared, router, settings)
    }

    /// The daemon talks to `talk_to`; the test looks at `store` behind it.
    fn with_store(
        store: Arc<MemoryStore>,
        talk_to: Box<dyn ConfigStore>,
        router: Counted,
        settings: Settings,
    ) -> Harness {
        let (daemon, status) = Daemon::new(id(), vec![talk_to], router.clone(), settings);
        Harness::run(store, daemon, router, status)
    }

    fn run(
        store: Arc<MemoryStore>,
        daemon: Daemon<Counted>,
        router: Counted,
        status: watch::Receiver<Status>,
    ) -> Harness {
        let (events, rx) = mpsc::channel(16);
        let task = tokio::spawn(daemon.run(rx));
        Harness {
            store,
            router,
            events,
            status,
            task,
        }
    }

    async fn until(&mut self, what: &str, f: impl Fn(&Status) -> bool) -> Status {
        let found = tokio::time::timeout(Duration::from_secs(5), self.status.wait_for(|s| f(s)))
            .await
            .map(|r| r.map(|s| s.clone()));
        match found {
            Ok(Ok(s)) => s,
            _ => panic!(
                "{what}: not within 5 s; status: {:?}",
                *self.status.borrow()
            ),
        }
    }

    async fn hand_edit(&self, hostname: &str) {
        self.router.state().config.hostname = Some(hostname.to_owned());
        self.events
            .send(Event::Changed("test"))
            .await
            .expect("daemon alive");
    }

    async fn current(&self) -> Option<Stored> {
        self.store.get(&id()).await.expect("store up")
    }

    async fn history_texts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for h in self.store.history(&id()).await.expect("history") {
            out.push(
                self.store
                    .get_version(&id(), &h.version)
                    .await
                    .expect("version"),
            );
        }
        out
    }

    async fn stop(self) -> Daemon<Counted> {
        self.events.send(Event::Stop).await.expect("daemon alive");
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("stops within 5 s")
            .expect("no panic")
            .expect("was running")
    }
}

/// The store's current version (a seeded store has one).
async fn current_version(store: &MemoryStore) -> Version {
    store.get(&id()).await.expect("up").expect("seeded").version
}

/// The operator writes `hostname`'s config over version `on`; returns the new version.
async fn push(store: &MemoryStore, hostname: &str, on: &Version, message: &str) -> Version {
    store
        .put(
            &id(),
            &config(hostname),
            &Expect::Version(on.clone()),
            message,
        )
        .await
        .expect("store edit")
}

async fn seeded(hostname: &str) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::default());
    store
        .put(&id(), &config(hostname), &Expect::Absent, "seed")
        .await
        .expect("seed");
    store
}

mod boot;
mod boot_state;
mod confirm_edit;
mod fleet;
mod panics;
mod reads;
mod snapshot;
