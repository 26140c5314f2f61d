//! A panic in an apply (a bug: there must be none) does not take the daemon down.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_panic_applying_the_newest_config_falls_back_to_history() {
    let store = seeded("good").await;
    let v1 = current_version(&store).await;
    push(&store, "buggy", &v1, "buggy push").await;
    let router = FakeRouter::default();
    router.state().panic_hostnames.insert("buggy".into());
    let mut h = Harness::start(store, router);
    let s = h
        .until("degraded", |s| matches!(s.phase, Phase::Degraded(_)))
        .await;
    assert_eq!(s.running_version, Some(v1));
    assert_eq!(h.router.state().config.hostname.as_deref(), Some("good"));
    // Still serving: a store edit after it is applied.
    h.store
        .put(
            &id(),
            &config("fixed"),
            &Expect::Version(s.store_version.expect("v")),
            "fix",
        )
        .await
        .expect("edit");
    h.until("running", |s| s.phase == Phase::Running).await;
    assert_eq!(h.router.state().config.hostname.as_deref(), Some("fixed"));
    h.stop().await;
}
