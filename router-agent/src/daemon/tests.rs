//! The daemon's loop against an in-memory store and router.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

use super::status::{Phase, Status};
use super::{Daemon, Event, Settings};
use crate::model::{render_config, Config};
use crate::router::FakeRouter;
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
    router: FakeRouter,
    events: mpsc::Sender<Event>,
    status: watch::Receiver<Status>,
    task: tokio::task::JoinHandle<Result<Daemon<FakeRouter>, super::StoppedWaiting>>,
}

impl Harness {
    fn start(store: Arc<MemoryStore>, router: FakeRouter) -> Harness {
        Harness::with(store, router, settings())
    }

    fn with(store: Arc<MemoryStore>, router: FakeRouter, settings: Settings) -> Harness {
        let shared = Box::new(Shared(store.clone()));
        Harness::with_store(store, shared, router, settings)
    }

    /// The daemon talks to `talk_to`; the test looks at `store` behind it.
    fn with_store(
        store: Arc<MemoryStore>,
        talk_to: Box<dyn ConfigStore>,
        router: FakeRouter,
        settings: Settings,
    ) -> Harness {
        let (daemon, status) = Daemon::new(id(), vec![talk_to], router.clone(), settings);
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

    async fn stop(self) -> Daemon<FakeRouter> {
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

#[tokio::test(flavor = "multi_thread")]
async fn boot_applies_the_store_config_and_writes_nothing_back() {
    let mut h = Harness::start(seeded("a").await, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    assert_eq!(h.router.state().config, parsed(&config("a")));
    h.events
        .send(Event::Changed("own apply"))
        .await
        .expect("alive");
    let store = h.store.clone();
    let d = h.stop().await;
    assert_eq!(d.router().state().applied.len(), 1);
    let history = store.history(&id()).await.expect("history");
    assert_eq!(
        history.len(),
        1,
        "an unchanged config is not written: {history:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn first_boot_saves_the_running_state() {
    let router = FakeRouter::default();
    router.state().config = parsed(&config("fresh"));
    let mut h = Harness::start(Arc::new(MemoryStore::default()), router);
    h.until("saved", |s| s.counters.snapshots == 1).await;
    assert_eq!(
        h.current().await.expect("saved").text,
        render_config(&parsed(&config("fresh")))
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_newest_config_falls_back_to_history_and_says_so() {
    let store = seeded("good").await;
    let v1 = current_version(&store).await;
    push(&store, "bad", &v1, "bad push").await;
    let router = FakeRouter::default();
    router.state().refuse_hostnames.insert("bad".into());
    let mut h = Harness::start(store, router);
    let s = h
        .until("degraded", |s| matches!(s.phase, Phase::Degraded(_)))
        .await;
    assert_eq!(s.running_version, Some(v1));
    assert!(
        s.line().contains("DEGRADED: newest version"),
        "{}",
        s.line()
    );
    assert!(s.metrics().contains("router_agent_degraded 1"));
    assert_eq!(h.router.state().config.hostname.as_deref(), Some("good"));
    // A change on the router is saved over the refused version, which stays in history.
    h.hand_edit("good2").await;
    h.until("saved", |s| {
        s.counters.snapshots == 1 && s.phase == Phase::Running
    })
    .await;
    let texts = h.history_texts().await;
    assert_eq!(texts.len(), 3);
    assert!(texts[1].contains("bad"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fallback_tries_a_bounded_number_of_older_versions() {
    let store = seeded("good").await;
    let mut last = store.get(&id()).await.expect("up").expect("seeded").version;
    let router = FakeRouter::default();
    for n in 0..25 {
        let bad = format!("bad{n}");
        router.state().refuse_hostnames.insert(bad.clone());
        last = push(&store, &bad, &last, "bad push").await;
    }
    let mut h = Harness::start(store, router);
    let s = h
        .until("failed", |s| matches!(s.phase, Phase::Failed(_)))
        .await;
    assert!(
        s.line().contains("no older version applies"),
        "{}",
        s.line()
    );
    // Never reached the good one 25 versions down: 20 tried, after the newest.
    assert_eq!(h.router.state().config.hostname, None);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn store_down_at_boot_waits_then_comes_up() {
    let store = seeded("a").await;
    store.set_down(true);
    let mut h = Harness::start(store.clone(), FakeRouter::default());
    let s = h
        .until("waiting", |s| matches!(s.phase, Phase::WaitingForStore(_)))
        .await;
    assert!(
        s.line()
            .contains("waiting for the store: memory://: unreachable"),
        "{}",
        s.line()
    );
    assert!(h.router.state().applied.is_empty());
    store.set_down(false);
    h.until("running", |s| s.phase == Phase::Running).await;
    assert_eq!(h.router.state().config.hostname.as_deref(), Some("a"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_while_waiting_for_the_store_returns() {
    let store = seeded("a").await;
    store.set_down(true);
    let h = Harness::start(store, FakeRouter::default());
    h.events.send(Event::Stop).await.expect("alive");
    let r = tokio::time::timeout(Duration::from_secs(5), h.task)
        .await
        .expect("returns");
    assert!(r.expect("no panic").is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_are_snapshotted_with_compare_and_swap() {
    let mut h = Harness::start(seeded("a").await, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    h.hand_edit("b").await;
    let s = h.until("saved", |s| s.counters.snapshots == 1).await;
    let cur = h.current().await.expect("present");
    assert_eq!(Some(cur.version), s.store_version);
    assert!(cur.text.contains("\"b\""));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_wait_for_the_store_and_the_newest_wins() {
    let mut h = Harness::start(seeded("a").await, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    h.store.set_down(true);
    h.hand_edit("b").await;
    h.until("pending", |s| {
        s.pending_snapshot && s.counters.snapshot_failures >= 1
    })
    .await;
    h.hand_edit("c").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.store.set_down(false);
    h.until("saved", |s| {
        s.counters.snapshots == 1 && !s.pending_snapshot
    })
    .await;
    let texts = h.history_texts().await;
    assert_eq!(
        texts.len(),
        2,
        "only the newest pending snapshot is written: {texts:?}"
    );
    assert!(texts[0].contains("\"c\""));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_keeps_both_versions_and_converges_on_the_store() {
    let mut h = Harness::start(seeded("a").await, FakeRouter::default());
    let s = h.until("running", |s| s.phase == Phase::Running).await;
    // The operator edits the store while the store is unreachable for the router's watch:
    // the router's next write meets a newer version.
    let v1 = s.store_version.expect("version");
    h.store.set_down(true);
    h.hand_edit("router-side").await;
    h.until("pending", |s| s.pending_snapshot).await;
    h.store.set_down(false);
    h.store
        .put(
            &id(),
            &config("store-side"),
            &Expect::Version(v1),
            "operator",
        )
        .await
        .expect("operator edit");
    // Whichever comes first, the router's retry (a conflict) or the store's watch (an
    // edit), the router ends on the store's version with its own kept in history.
    h.until("converged", |s| {
        s.counters.store_edits == 1 && !s.pending_snapshot && s.phase == Phase::Running
    })
    .await;
    assert_eq!(
        h.router.state().config.hostname.as_deref(),
        Some("store-side")
    );
    let texts = h.history_texts().await;
    assert!(
        texts.iter().any(|t| t.contains("router-side")),
        "router's version kept: {texts:?}"
    );
    let history = h.store.history(&id()).await.expect("history");
    // A conflict if the retry came first; kept before the store's version was applied if
    // the watch did.
    assert!(
        history
            .iter()
            .any(|e| matches!(e.note().kind, Some(WriteKind::Conflict | WriteKind::Apply))),
        "the router's side is marked by how it was kept: {history:?}"
    );
    assert!(h
        .current()
        .await
        .expect("present")
        .text
        .contains("store-side"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_side_edit_is_applied_after_saving_the_running_config() {
    let mut h = Harness::start(seeded("a").await, FakeRouter::default());
    let s = h.until("running", |s| s.phase == Phase::Running).await;
    // An unsaved hand change (no event yet) and then an operator edit in the store.
    h.router.state().config.hostname = Some("unsaved".into());
    h.store
        .put(
            &id(),
            &config("edited"),
            &Expect::Version(s.store_version.expect("v")),
            "operator",
        )
        .await
        .expect("edit");
    h.until("applied", |s| s.counters.store_edits == 1).await;
    assert_eq!(h.router.state().config.hostname.as_deref(), Some("edited"));
    let texts = h.history_texts().await;
    assert!(texts.iter().any(|t| t.contains("unsaved")), "{texts:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_store_edit_leaves_the_router_running() {
    let router = FakeRouter::default();
    router.state().refuse_hostnames.insert("bad".into());
    let mut h = Harness::start(seeded("a").await, router);
    let s = h.until("running", |s| s.phase == Phase::Running).await;
    h.store
        .put(
            &id(),
            &config("bad"),
            &Expect::Version(s.store_version.expect("v")),
            "bad",
        )
        .await
        .expect("edit");
    h.until("degraded", |s| matches!(s.phase, Phase::Degraded(_)))
        .await;
    assert_eq!(h.router.state().config.hostname.as_deref(), Some("a"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_takes_a_final_snapshot_and_is_bounded() {
    let mut h = Harness::start(seeded("a").await, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    // Changed just before stopping, no event: the final snapshot catches it.
    h.router.state().config.hostname = Some("last".into());
    let store = h.store.clone();
    h.stop().await;
    let cur = store.get(&id()).await.expect("up").expect("present");
    assert!(cur.text.contains("last"));

    let mut h = Harness::start(seeded("a").await, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    h.router.state().config.hostname = Some("lost".into());
    h.store.set_down(true);
    let t = std::time::Instant::now();
    let d = h.stop().await;
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "bounded by stop_timeout"
    );
    assert_eq!(d.status().phase, Phase::Stopped);
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_saves_then_pulls_again() {
    let mut h = Harness::start(seeded("a").await, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    h.router.state().config.hostname = Some("drift".into());
    h.events.send(Event::Reload).await.expect("alive");
    h.until("saved", |s| s.counters.snapshots == 1).await;
    assert_eq!(h.router.state().config.hostname.as_deref(), Some("drift"));
    assert!(h.current().await.expect("present").text.contains("drift"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_wait_while_a_commit_confirm_is_pending() {
    let hold = hold_file();
    let mut h = Harness::with(
        seeded("a").await,
        FakeRouter::default(),
        Settings {
            hold: Some(hold.clone()),
            ..settings()
        },
    );
    h.until("running", |s| s.phase == Phase::Running).await;
    std::fs::write(&hold, "pending").expect("hold");
    h.hand_edit("unconfirmed").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        h.current().await.expect("present").text.contains("\"a\""),
        "held"
    );
    std::fs::remove_file(&hold).expect("confirmed");
    h.until("saved after the confirmation", |s| {
        s.counters.snapshots == 1
    })
    .await;
    assert!(h
        .current()
        .await
        .expect("present")
        .text
        .contains("unconfirmed"));
    h.stop().await;
}

const WITH_LIST_FILE: &str = "version = 1
hostname = \"rs\"

[bgp]
asn = 64500
router_id = \"192.0.2.1\"
route_server = true

[[bgp.peer]]
name = \"a\"
address = \"192.0.2.10\"
asn = 10001
allowed_prefixes_file = \"as10001.prefixes\"
";

#[tokio::test(flavor = "multi_thread")]
async fn list_files_come_from_the_store_and_snapshots_keep_the_reference() {
    let store = Arc::new(MemoryStore::default());
    let text = render_config(&parsed(WITH_LIST_FILE));
    store
        .put(&id(), &text, &Expect::Absent, "seed")
        .await
        .expect("seed");
    let file = FileName::new("as10001.prefixes").expect("name");
    store
        .put_file(&id(), &file, b"185.1.0.0/16 le 24\n")
        .await
        .expect("file");
    let mut h = Harness::start(store, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    let applied = h.router.state().config.clone();
    let bgp = applied.bgp.as_ref().expect("[bgp]");
    assert_eq!(
        bgp.files.0.get(&"as10001.prefixes".parse().expect("name")),
        Some(&Ok("185.1.0.0/16 le 24\n".to_owned())),
        "the file's text came with the config"
    );
    // A snapshot of what runs is the store's text: the reference, no inlined list.
    h.events.send(Event::Changed("test")).await.expect("alive");
    let d = h.stop().await;
    assert_eq!(render_config(&d.router().state().config), text);
    assert_eq!(
        d.status().counters.snapshots,
        0,
        "nothing new to save: {:?}",
        d.status()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_file_missing_from_the_store_refuses_the_config() {
    let store = Arc::new(MemoryStore::default());
    store
        .put(&id(), WITH_LIST_FILE, &Expect::Absent, "seed")
        .await
        .expect("seed");
    let mut h = Harness::start(store, FakeRouter::default());
    let s = h
        .until("failed", |s| matches!(s.phase, Phase::Failed(_)))
        .await;
    let Phase::Failed(why) = s.phase else {
        unreachable!()
    };
    assert!(
        why.contains("the store has no file as10001.prefixes for r1"),
        "{why}"
    );
    assert!(h.router.state().applied.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_made_after_boot_is_uploaded() {
    let dir = std::env::temp_dir().join(format!("ra-late-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key: super::persist::Persisted = format!("hostkey={}/key", dir.display())
        .parse()
        .expect("valid");
    let store = seeded("a").await;
    let (daemon, mut status) = Daemon::new(
        id(),
        vec![Box::new(Shared(store.clone()))],
        FakeRouter::default(),
        settings(),
    );
    let (events, rx) = mpsc::channel(16);
    let task = tokio::spawn(daemon.with_files(vec![key.clone()]).run(rx));
    tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| s.phase == Phase::Running),
    )
    .await
    .expect("running")
    .expect("status");
    let name = FileName::new("hostkey").expect("name");
    assert_eq!(store.get_file(&id(), &name).await.expect("store"), None);
    // What ssh-hostkeys.service does once the agent is ready.
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(&key.path, b"generated").expect("write");
    let mut uploaded = None;
    for _ in 0..100 {
        uploaded = store.get_file(&id(), &name).await.expect("store");
        if uploaded.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(uploaded.as_deref(), Some(&b"generated"[..]));
    events.send(Event::Stop).await.expect("alive");
    task.await.expect("no panic").expect("was running");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_keeps_the_comments_of_the_config_the_router_booted_with() {
    let store = Arc::new(MemoryStore::default());
    let text = "# Owner: netops.\nversion = 1\nhostname = \"a\" # the old name\n";
    store
        .put(&id(), text, &Expect::Absent, "seed")
        .await
        .expect("seed");
    let mut h = Harness::start(store, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    h.hand_edit("b").await;
    h.until("saved", |s| s.counters.snapshots == 1).await;
    assert_eq!(
        h.current().await.expect("saved").text,
        "# Owner: netops.\nversion = 1\nhostname = \"b\" # the old name\n"
    );
    h.stop().await;
}

mod confirm_edit;
mod fleet;
mod panics;
