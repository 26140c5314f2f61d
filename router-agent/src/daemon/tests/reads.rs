//! Full reads of the running config ([`Router::running`]) the daemon makes: a store-side
//! edit reads what runs once before (kept in history if unsaved) and once after the apply
//! (what the next snapshot is compared with); nothing else reads it.
//!
//! [`Router::running`]: crate::router::Router::running

use super::*;

/// Boots on `a`; returns the harness running and the reads boot took.
async fn booted() -> (Harness, usize) {
    let mut h = Harness::start(seeded("a").await, FakeRouter::default());
    h.until("running", |s| s.phase == Phase::Running).await;
    let boot = h.router.reads();
    (h, boot)
}

async fn edit(h: &mut Harness, hostname: &str) {
    let v = current_version(&h.store).await;
    let edits = h.status.borrow().counters.store_edits;
    push(&h.store, hostname, &v, "operator").await;
    h.until("the edit applied or refused", |s| {
        s.counters.store_edits > edits || matches!(s.phase, Phase::Degraded(_))
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_store_edit_reads_the_running_config_twice_and_a_refused_one_once() {
    let (mut h, boot) = booted().await;
    assert_eq!(boot, 1, "boot: one read after the apply (the baseline)");
    edit(&mut h, "b").await;
    assert_eq!(h.router.reads() - boot, 2, "an edit: before and after");
    // The confirm window passes (probes ask the store, not the router).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.status.borrow().counters.edits_confirmed, 1);
    assert_eq!(h.router.reads() - boot, 2, "confirming reads nothing");
    h.router.state().refuse_hostnames.insert("bad".into());
    edit(&mut h, "bad").await;
    assert_eq!(
        h.router.reads() - boot,
        3,
        "a refused edit: only before (the router was not touched)"
    );
    assert_eq!(h.router.state().config.hostname.as_deref(), Some("b"));
}

#[tokio::test(start_paused = true)]
async fn stopping_reads_the_running_config_once() {
    let (h, boot) = booted().await;
    let router = h.router.clone();
    h.stop().await;
    assert_eq!(
        router.reads() - boot,
        1,
        "the final snapshot's read serves the BGP announcement too"
    );
}
