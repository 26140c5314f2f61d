//! The `etcd://` store against real etcd members (Debian's etcd-server) on loopback.

#[path = "store_support/etcd_cluster.rs"]
mod etcd_cluster;

use std::time::{Duration, Instant};

use etcd_cluster::Cluster;
use router_store_client::{
    self, contract, ConfigStore, Expect, RouterId, StoreError, StoreEvent, StoreOptions, Version,
};

fn open(url: &str) -> Box<dyn ConfigStore> {
    let options = StoreOptions {
        timeout: Duration::from_secs(3),
        ..StoreOptions::default()
    };
    router_store_client::open(url, &options).expect("open etcd store")
}

#[tokio::test]
async fn etcd_store_keeps_the_contract() {
    let cluster = Cluster::start(1).await;
    contract::check_contract(open(&cluster.url("routers")).as_ref()).await;
}

#[tokio::test]
async fn a_config_written_with_etcdctl_is_seen_and_kept_in_history() {
    let cluster = Cluster::start(1).await;
    let store = open(&cluster.url("fleet/routers"));
    let id = RouterId::new("r1").expect("valid id");
    let v1 = store
        .put(&id, "version = 1\n", &Expect::Absent, "first")
        .await
        .expect("put");
    let mut watch = store
        .watch(&id, Some(v1.clone()), Duration::from_secs(1))
        .await
        .expect("watch");

    // An operator's edit, straight into etcd.
    cluster.members[0]
        .put("/fleet/routers/r1/config", "version = 1\n# operator\n")
        .await
        .expect("raw put");

    let event = tokio::time::timeout(Duration::from_secs(10), watch.recv())
        .await
        .expect("an event within 10 s")
        .expect("watch open")
        .expect("event");
    let StoreEvent::Changed(seen) = event else {
        panic!("expected a change, got {event:?}")
    };
    assert_eq!(seen.text, "version = 1\n# operator\n");
    let got = store.get(&id).await.expect("get").expect("config");
    assert_eq!(got, seen);

    let history = store.history(&id).await.expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0].version, seen.version);
    assert!(history[0].message.contains("directly"), "{history:?}");
    assert_eq!(
        store
            .get_version(&id, &seen.version)
            .await
            .expect("version"),
        "version = 1\n# operator\n"
    );
    // The router's write against its old version does not overwrite the operator's.
    assert!(matches!(
        store.put(&id, "x", &Expect::Version(v1), "stale").await,
        Err(StoreError::Conflict { current: Some(v), .. }) if v == seen.version
    ));
}

#[tokio::test]
async fn an_unreachable_cluster_is_a_transient_error_within_the_timeout() {
    let store = open("etcd://127.0.0.1:1/routers");
    let started = Instant::now();
    let err = store
        .get(&RouterId::new("r1").expect("valid id"))
        .await
        .expect_err("nobody listens on port 1");
    assert!(err.is_transient(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// Writes one config after another with compare-and-swap; a write whose answer was lost is
/// confirmed by reading (as the daemon converges on the store's config).
async fn write(store: &dyn ConfigStore, id: &RouterId, text: &str, last: &Version) -> Version {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match store
            .put(id, text, &Expect::Version(last.clone()), text)
            .await
        {
            Ok(v) => return v,
            Err(StoreError::Conflict { .. }) => {
                let current = store
                    .get(id)
                    .await
                    .expect("get after conflict")
                    .expect("config");
                assert_eq!(current.text, text, "someone else wrote meanwhile");
                return current.version;
            }
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("write {text:?}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_one_killed_mid_run_loses_no_write_and_no_event() {
    const WRITES: usize = 60;
    const KILL_AT: usize = 20;
    let mut cluster = Cluster::start(3).await;
    let store = open(&cluster.url("routers"));
    let id = RouterId::new("r1").expect("valid id");
    let mut last = store
        .put(&id, "version = 1\n# 0\n", &Expect::Absent, "start")
        .await
        .expect("first put");
    let watcher = open(&cluster.url("routers"));
    let mut watch = watcher
        .watch(&id, Some(last.clone()), Duration::from_secs(1))
        .await
        .expect("watch");

    let mut written = Vec::new();
    let mut slowest_after_kill = Duration::ZERO;
    let mut killed = None;
    for i in 1..=WRITES {
        if i == KILL_AT {
            let leader = cluster.leader().await;
            cluster.kill(leader);
            killed = Some(cluster.members[leader].name.clone());
        }
        let text = format!("version = 1\n# {i}\n");
        let started = Instant::now();
        last = write(store.as_ref(), &id, &text, &last).await;
        if killed.is_some() {
            slowest_after_kill = slowest_after_kill.max(started.elapsed());
        }
        written.push((last.clone(), text));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut seen = Vec::new();
    while seen.len() < written.len() {
        let event = tokio::time::timeout(Duration::from_secs(20), watch.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "watch stalled after {} of {} events",
                    seen.len(),
                    written.len()
                )
            })
            .expect("watch open")
            .expect("watch event");
        match event {
            StoreEvent::Changed(s) => seen.push((s.version, s.text)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, written, "the watcher saw every write, in order, once");

    let history = store.history(&id).await.expect("history");
    for (version, text) in &written {
        assert!(
            history.iter().any(|h| &h.version == version),
            "write {text:?} ({version}) missing from history"
        );
        assert_eq!(
            &store.get_version(&id, version).await.expect("version"),
            text
        );
    }
    let current = store.get(&id).await.expect("get").expect("config");
    assert_eq!(current.version, last);
    println!(
        "killed leader {}; slowest write after the kill: {:?}",
        killed.unwrap_or_default(),
        slowest_after_kill
    );
}
