//! The daemon as the fleet sees it: its status reports and the kinds of its writes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::*;

/// The reporter beside a running daemon.
#[tokio::test(start_paused = true)]
async fn status_reports_follow_the_daemon_and_stay_out_of_history() {
    let store = seeded("a").await;
    let seed = current_version(&store).await;
    let mut h = Harness::start(store.clone(), FakeRouter::default());
    let (_bgp_tx, bgp) = watch::channel(None);
    let reporter = crate::daemon::report::Reporter {
        store: Arc::new(Shared(store.clone())),
        id: id(),
        every: Duration::from_secs(60),
        boot_unix_time: 1,
        clock: Arc::new(crate::store::status::unix_now),
    };
    let task = tokio::spawn(reporter.run(h.status.clone(), bgp));
    h.until("running", |s| s.phase == Phase::Running).await;
    let mut report = None;
    for _ in 0..100 {
        if let Some(bytes) = store.get_status(&id()).await.expect("up") {
            let r = StatusReport::parse(&bytes).expect("a valid record");
            if r.phase == "running" {
                report = Some(r);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = report.expect("a running report within 2 s");
    assert_eq!(report.running_version.as_deref(), Some(seed.0.as_str()));
    assert_eq!(report.store_version.as_deref(), Some(seed.0.as_str()));
    let apply = report.last_apply.expect("the boot apply is reported");
    assert!(apply.ok);
    assert_eq!(apply.version.as_deref(), Some(seed.0.as_str()));
    assert_eq!(report.agent_version, env!("CARGO_PKG_VERSION"));
    h.stop().await;
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the reporter ends with the daemon")
        .expect("no panic");
    let last = StatusReport::parse(&store.get_status(&id()).await.expect("up").expect("kept"))
        .expect("valid");
    assert_eq!(last.phase, "stopped");
    assert_eq!(
        store.history(&id()).await.expect("history").len(),
        1,
        "reports are not versions"
    );
    assert_eq!(store.list_routers().await.expect("list"), vec![id()]);
}

#[tokio::test(start_paused = true)]
async fn each_daemon_write_says_its_kind() {
    let mut h = Harness::start(seeded("a").await, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    h.hand_edit("b").await;
    h.until("snapshot", |s| s.counters.snapshots == 1).await;
    // A store-side edit while the router runs something unsaved: kept before apply.
    let current = h.current().await.expect("current").version;
    h.router.state().config.hostname = Some("unsaved".into());
    h.store
        .put(&id(), &config("c"), &Expect::Version(current), "operator")
        .await
        .expect("edit");
    h.until("applied", |s| s.counters.store_edits == 1).await;
    let kinds: Vec<Option<WriteKind>> = h
        .store
        .history(&id())
        .await
        .expect("history")
        .iter()
        .map(|e| e.note().kind)
        .collect();
    assert_eq!(
        kinds,
        [
            Some(WriteKind::Apply),
            None,
            Some(WriteKind::Snapshot),
            None
        ],
        "newest first: kept before apply, operator edit, snapshot, seed"
    );
    h.stop().await;
}
