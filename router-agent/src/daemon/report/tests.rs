//! The reporter on tokio's paused clock: the test's clock follows tokio's, so a heartbeat
//! is an `advance`, not a wait.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{Clock, Reporter};
use crate::daemon::status::{Phase, Status};
use crate::store::{ConfigStore, MemoryStore, RouterId, StatusReport};

const BASE: u64 = 1_800_000_000;

fn id() -> RouterId {
    RouterId::new("r1").expect("valid id")
}

fn clock() -> Clock {
    let start = Instant::now();
    Arc::new(move || BASE + start.elapsed().as_secs())
}

async fn report(store: &MemoryStore) -> Option<StatusReport> {
    let bytes = store.get_status(&id()).await.expect("store up")?;
    Some(StatusReport::parse(&bytes).expect("a valid record"))
}

/// Lets the reporter run what is due now (the clock does not move).
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

fn start(
    store: &Arc<MemoryStore>,
) -> (
    watch::Sender<Status>,
    watch::Sender<Option<crate::bgp::Readout>>,
    tokio::task::JoinHandle<()>,
) {
    let (status_tx, status) = watch::channel(Status::default());
    let (bgp_tx, bgp) = watch::channel(None);
    let reporter = Reporter {
        store: store.clone(),
        id: id(),
        every: Duration::from_secs(60),
        boot_unix_time: BASE - 100,
        clock: clock(),
    };
    let task = tokio::spawn(reporter.run(status, bgp));
    (status_tx, bgp_tx, task)
}

#[tokio::test(start_paused = true)]
async fn written_at_start_on_change_and_as_a_heartbeat() {
    let store = Arc::new(MemoryStore::default());
    let (status, _bgp, _task) = start(&store);
    settle().await;
    let first = report(&store).await.expect("a record at start");
    assert_eq!(
        (first.phase.as_str(), first.unix_time, first.uptime_secs()),
        ("starting", BASE, 100)
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    status.send_modify(|s| s.phase = Phase::Degraded("version 3 refused".into()));
    settle().await;
    let changed = report(&store).await.expect("record");
    assert_eq!(changed.phase, "degraded");
    assert_eq!(changed.reason.as_deref(), Some("version 3 refused"));
    assert_eq!(
        changed.unix_time,
        BASE + 5,
        "written at the change, not later"
    );
    // Nothing new within the interval...
    tokio::time::advance(Duration::from_secs(30)).await;
    settle().await;
    assert_eq!(report(&store).await.expect("record").unix_time, BASE + 5);
    // ...then the heartbeat, with nothing changed.
    tokio::time::advance(Duration::from_secs(30)).await;
    settle().await;
    let beat = report(&store).await.expect("record");
    assert_eq!(beat.unix_time, BASE + 65);
    assert_eq!(beat.heartbeat_secs, 60);
    assert!(!beat.stale(BASE + 65 + 180));
    assert!(beat.stale(BASE + 65 + 181));
}

#[tokio::test(start_paused = true)]
async fn a_store_that_was_down_gets_the_next_beat() {
    let store = Arc::new(MemoryStore::default());
    store.set_down(true);
    let (_status, _bgp, _task) = start(&store);
    settle().await;
    store.set_down(false);
    assert_eq!(report(&store).await, None);
    tokio::time::advance(Duration::from_secs(60)).await;
    settle().await;
    assert_eq!(
        report(&store).await.expect("written at the beat").unix_time,
        BASE + 60
    );
}

#[tokio::test(start_paused = true)]
async fn bgp_changes_are_reported_and_a_stop_is_the_last_record() {
    let store = Arc::new(MemoryStore::default());
    let (status, bgp, task) = start(&store);
    settle().await;
    bgp.send_replace(Some(crate::bgp::Readout::Unreachable("no socket".into())));
    settle().await;
    let r = report(&store).await.expect("record");
    assert!(r.bgp.expect("bgp counted").bird_unreachable);
    status.send_modify(|s| s.phase = Phase::Stopped);
    drop(status);
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the reporter ends with the daemon")
        .expect("no panic");
    assert_eq!(report(&store).await.expect("record").phase, "stopped");
}
