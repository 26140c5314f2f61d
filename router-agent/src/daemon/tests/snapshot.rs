//! Snapshots, conflicts, store-side edits, reload and the final snapshot.

use super::*;

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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
    let t = tokio::time::Instant::now();
    let d = h.stop().await;
    // On the paused clock: the retries go on until the bound, and not past it.
    let took = t.elapsed();
    let bound = settings().stop_timeout;
    assert!(
        took >= bound && took < bound + Duration::from_millis(100),
        "bounded by stop_timeout: {took:?}"
    );
    assert_eq!(d.status().phase, Phase::Stopped);
}

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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
