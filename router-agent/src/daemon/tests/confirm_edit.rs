//! Store-side edits go through a confirm window (issue 15 finding 5): an edit after which
//! the router cannot reach the store is undone, marked and not applied again.

use std::sync::Arc;
use std::time::Duration;

use super::*;

/// A store the router reaches only while it does not run `cut_by` (as a config that drops
/// the management path would leave it).
#[derive(Debug, Clone)]
struct Cutoff {
    store: Shared,
    router: FakeRouter,
    cut_by: String,
}

impl Cutoff {
    fn reachable(&self) -> Result<(), StoreError> {
        if self.router.state().config.hostname.as_deref() == Some(self.cut_by.as_str()) {
            return Err(StoreError::Unreachable {
                store: self.store.describe(),
                detail: "no route to host".to_owned(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl ConfigStore for Cutoff {
    fn describe(&self) -> String {
        self.store.describe()
    }
    async fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError> {
        self.reachable()?;
        self.store.get(id).await
    }
    async fn put(
        &self,
        id: &RouterId,
        t: &str,
        e: &Expect,
        m: &str,
    ) -> Result<Version, StoreError> {
        self.reachable()?;
        self.store.put(id, t, e, m).await
    }
    async fn archive(&self, id: &RouterId, t: &str, m: &str) -> Result<(), StoreError> {
        self.reachable()?;
        self.store.archive(id, t, m).await
    }
    async fn history(&self, id: &RouterId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.reachable()?;
        self.store.history(id).await
    }
    async fn get_version(&self, id: &RouterId, v: &Version) -> Result<String, StoreError> {
        self.reachable()?;
        self.store.get_version(id, v).await
    }
    async fn get_file(&self, id: &RouterId, n: &FileName) -> Result<Option<Vec<u8>>, StoreError> {
        self.reachable()?;
        self.store.get_file(id, n).await
    }
    async fn put_file(&self, id: &RouterId, n: &FileName, b: &[u8]) -> Result<(), StoreError> {
        self.reachable()?;
        self.store.put_file(id, n, b).await
    }
    async fn list_routers(&self) -> Result<Vec<RouterId>, StoreError> {
        self.reachable()?;
        self.store.list_routers().await
    }
    async fn put_status(&self, id: &RouterId, r: &[u8]) -> Result<(), StoreError> {
        self.reachable()?;
        self.store.put_status(id, r).await
    }
    async fn get_status(&self, id: &RouterId) -> Result<Option<Vec<u8>>, StoreError> {
        self.reachable()?;
        self.store.get_status(id).await
    }
    async fn watch(
        &self,
        id: &RouterId,
        s: Option<Version>,
        p: Duration,
    ) -> Result<Watch, StoreError> {
        self.reachable()?;
        self.store.watch(id, s, p).await
    }
}

fn confirming(window: Duration) -> Settings {
    Settings {
        edit_confirm: Some(window),
        edit_probe: Duration::from_millis(20),
        ..settings()
    }
}

fn cutoff_harness(store: Arc<MemoryStore>, settings: Settings) -> Harness {
    let router = Counted::default();
    let cut = Cutoff {
        store: Shared(store.clone()),
        router: router.fake.clone(),
        cut_by: "cut".to_owned(),
    };
    Harness::with_store(store, Box::new(cut), router, settings)
}

#[tokio::test(start_paused = true)]
async fn an_edit_that_cuts_the_router_off_is_undone_marked_and_not_applied_again() {
    let store = seeded("a").await;
    let seed = current_version(&store).await;
    let mut h = cutoff_harness(store.clone(), confirming(Duration::from_millis(300)));
    h.until("running", |s| s.phase == Phase::Running).await;
    let cut = push(&store, "cut", &seed, "edit").await;
    let s = h
        .until("the edit undone", |s| s.counters.edits_undone == 1)
        .await;
    assert_eq!(
        h.router.state().config,
        parsed(&config("a")),
        "back as before"
    );
    match &s.phase {
        Phase::Degraded(why) => {
            assert!(why.contains(&cut.to_string()), "{why}");
            assert!(why.contains("not reachable"), "{why}");
        }
        other => panic!("expected degraded, got {other:?}"),
    }
    assert_eq!(s.running_version, Some(seed.clone()));
    assert!(s
        .metrics()
        .contains("router_agent_store_edits_undone_total 1"));
    // The refusal is recorded in the store's history once it is reachable again.
    let mut marked = false;
    for _ in 0..100 {
        let history = store.history(&id()).await.expect("history");
        if history
            .iter()
            .any(|e| e.message.contains(&format!("store version {cut} undone")))
        {
            marked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(marked, "the refused version is marked in history");
    // Neither the next polls nor a reload apply it again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.events.send(Event::Reload).await.expect("alive");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let applied = h.router.state().applied.clone();
    assert_eq!(
        applied,
        vec![
            parsed(&config("a")),
            parsed(&config("cut")),
            parsed(&config("a"))
        ]
    );
    // A new edit that keeps the path is applied and confirmed.
    let fixed = store
        .put(&id(), &config("b"), &Expect::Version(cut), "fix")
        .await
        .expect("fix");
    let s = h
        .until("the fix runs", |s| {
            s.phase == Phase::Running && s.running_version.as_ref() == Some(&fixed)
        })
        .await;
    assert_eq!(s.counters.edits_undone, 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_edit_is_confirmed_when_the_store_answers_and_snapshots_wait_for_it() {
    let store = seeded("a").await;
    let seed = current_version(&store).await;
    let mut h = cutoff_harness(store.clone(), confirming(Duration::from_secs(3)));
    h.until("running", |s| s.phase == Phase::Running).await;
    let b = store
        .put(&id(), &config("b"), &Expect::Version(seed), "edit")
        .await
        .expect("edit");
    let s = h
        .until("b confirmed", |s| {
            s.phase == Phase::Running
                && s.running_version.as_ref() == Some(&b)
                && s.counters.edits_confirmed == 1
        })
        .await;
    assert_eq!(s.counters.edits_undone, 0);
    assert_eq!(h.router.state().config, parsed(&config("b")));
    h.hand_edit("c").await;
    h.until("snapshot of c", |s| s.counters.snapshots == 1)
        .await;
    h.stop().await;
}

/// A BIRD whose session `peer1` is established unless the router runs `drop-bgp`.
fn bird(router: FakeRouter) -> impl Fn() -> Option<crate::bgp::Readout> + Send + Sync {
    move || {
        let down = router.state().config.hostname.as_deref() == Some("drop-bgp");
        let state = if down { "Active" } else { "Established" };
        Some(crate::bgp::Readout::Sessions(vec![
            crate::bgp::status::Session {
                name: "peer1".to_owned(),
                bgp_state: state.to_owned(),
                ..Default::default()
            },
        ]))
    }
}

fn bgp_harness(store: Arc<MemoryStore>, settings: Settings) -> Harness {
    let router = Counted::default();
    let (daemon, status) = Daemon::new(
        id(),
        vec![Box::new(Shared(store.clone()))],
        router.clone(),
        settings,
    );
    let daemon = daemon.with_bgp(bird(router.fake.clone()));
    Harness::run(store, daemon, router, status)
}

#[tokio::test(start_paused = true)]
async fn an_edit_after_which_bgp_sessions_stay_down_is_undone() {
    let store = seeded("a").await;
    let seed = current_version(&store).await;
    let mut h = bgp_harness(store.clone(), confirming(Duration::from_millis(300)));
    h.until("running", |s| s.phase == Phase::Running).await;
    let drop = push(&store, "drop-bgp", &seed, "edit").await;
    let s = h
        .until("the edit undone", |s| s.counters.edits_undone == 1)
        .await;
    assert_eq!(h.router.state().config, parsed(&config("a")));
    match &s.phase {
        Phase::Degraded(why) => {
            assert!(why.contains(&drop.to_string()), "{why}");
            assert!(why.contains("BGP sessions not back: peer1"), "{why}");
        }
        other => panic!("expected degraded, got {other:?}"),
    }
    // An edit that keeps the session up is confirmed.
    let b = store
        .put(&id(), &config("b"), &Expect::Version(drop), "fix")
        .await
        .expect("fix");
    h.until("b confirmed", |s| {
        s.counters.edits_confirmed == 1 && s.running_version.as_ref() == Some(&b)
    })
    .await;
    h.stop().await;
}
