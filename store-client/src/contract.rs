//! The behaviour every [`ConfigStore`] owes its callers, as one async check that each
//! backend's tests run against a fresh, empty store.

use std::time::Duration;

use super::note::{message, WriteKind};
use super::{ConfigStore, Expect, FileName, RouterId, StoreError, StoreEvent, Version};

/// Panics with what broke. `store` must be writable and hold nothing for `r1`/`r2`.
pub async fn check_contract(store: &dyn ConfigStore) {
    let r1 = RouterId::new("r1").expect("valid id");
    let r2 = RouterId::new("r2").expect("valid id");
    let what = store.describe();

    assert_eq!(
        store.get(&r1).await.expect("get"),
        None,
        "{what}: new store not empty"
    );
    assert!(store.history(&r1).await.expect("history").is_empty());
    assert_eq!(
        store.list_routers().await.expect("list"),
        Vec::<RouterId>::new(),
        "{what}: new store lists routers"
    );

    let v1 = store
        .put(&r1, "version = 1\n", &Expect::Absent, "first")
        .await
        .expect("create");
    let got = store.get(&r1).await.expect("get").expect("present");
    assert_eq!((got.text.as_str(), &got.version), ("version = 1\n", &v1));

    // Creating again, or writing against a stale version, is a conflict naming the current.
    for stale in [
        Expect::Absent,
        Expect::Version(super::Version("nope".into())),
    ] {
        match store.put(&r1, "x", &stale, "stale").await {
            Err(StoreError::Conflict { current, .. }) => {
                assert_eq!(
                    current.as_ref(),
                    Some(&v1),
                    "{what}: conflict names current"
                )
            }
            other => panic!("{what}: stale write {stale:?} gave {other:?}"),
        }
    }

    let v2 = store
        .put(
            &r1,
            "version = 1\nhostname = \"b\"\n",
            &Expect::Version(v1.clone()),
            "second",
        )
        .await
        .expect("update");
    assert_ne!(v1, v2);
    check_versions_are_not_paths(store, &r1).await;
    store
        .archive(&r1, "version = 1\nhostname = \"lost\"\n", "the other side")
        .await
        .expect("archive");
    let got = store.get(&r1).await.expect("get").expect("present");
    assert_eq!(
        got.version, v2,
        "{what}: archive must not change the current config"
    );

    let history = store.history(&r1).await.expect("history");
    assert_eq!(history.len(), 3, "{what}: history {history:?}");
    assert!(history
        .iter()
        .any(|h| h.version == v1 && h.message.contains("first")));
    assert_eq!(
        store.get_version(&r1, &v1).await.expect("v1"),
        "version = 1\n"
    );
    let archived = &history
        .iter()
        .find(|h| h.message.contains("other side"))
        .expect("archived");
    assert!(store
        .get_version(&r1, &archived.version)
        .await
        .expect("archived")
        .contains("lost"));
    assert!(matches!(
        store.get_version(&r1, &super::Version("nope".into())).await,
        Err(StoreError::NoSuchVersion { .. })
    ));

    // Routers do not see each other.
    assert_eq!(store.get(&r2).await.expect("get r2"), None);

    let key = FileName::new("ssh_host_ed25519_key").expect("valid name");
    assert_eq!(store.get_file(&r1, &key).await.expect("get file"), None);
    store
        .put_file(&r1, &key, b"\x00secret\n")
        .await
        .expect("put file");
    assert_eq!(
        store
            .get_file(&r1, &key)
            .await
            .expect("get file")
            .as_deref(),
        Some(&b"\x00secret\n"[..])
    );
    assert_eq!(store.get_file(&r2, &key).await.expect("other router"), None);

    check_fleet(store, &r1, &r2).await;
    check_kinds(store, &r1).await;

    check_watch(store, &r1).await;
}

/// Versions are looked up, never used as paths.
async fn check_versions_are_not_paths(store: &dyn ConfigStore, r1: &RouterId) {
    let what = store.describe();
    for bad in ["../r2/config", "..", "/etc/passwd", "1/../1", "%2e%2e"] {
        assert!(
            matches!(
                store.get_version(r1, &Version(bad.into())).await,
                Err(StoreError::NoSuchVersion { .. })
            ),
            "{what}: version {bad:?} was not refused as unknown"
        );
    }
}

/// A watch reports a change made after it started.
async fn check_watch(store: &dyn ConfigStore, r1: &RouterId) {
    let what = store.describe();
    let now = store.get(r1).await.expect("get").expect("present").version;
    let mut watch = store
        .watch(r1, Some(now.clone()), Duration::from_millis(100))
        .await
        .expect("watch");
    let v3 = store
        .put(
            r1,
            "version = 1\nhostname = \"c\"\n",
            &Expect::Version(now),
            "third",
        )
        .await
        .expect("update");
    let event = tokio::time::timeout(Duration::from_secs(10), watch.recv())
        .await
        .expect("a watch event within 10 s")
        .expect("watch still open")
        .expect("watch event");
    match event {
        StoreEvent::Changed(s) => assert_eq!(s.version, v3),
        other => panic!("{what}: watch gave {other:?}"),
    }
}

/// Listing and status records: a status record is kept beside the config, replaced in
/// place, never in the history; a router with only a status record is listed too.
async fn check_fleet(store: &dyn ConfigStore, r1: &RouterId, r2: &RouterId) {
    let what = store.describe();
    let listed = store.list_routers().await.expect("list");
    assert_eq!(listed, vec![r1.clone()], "{what}: list after writing r1");
    assert_eq!(store.get_status(r1).await.expect("get status"), None);
    let history = store.history(r1).await.expect("history").len();
    for n in [1, 2] {
        let record = status_record(n);
        store.put_status(r1, &record).await.expect("put status");
        assert_eq!(
            store.get_status(r1).await.expect("get status").as_deref(),
            Some(&record[..]),
            "{what}: status record as written"
        );
    }
    assert_eq!(
        store.history(r1).await.expect("history").len(),
        history,
        "{what}: a status record went into the config's history"
    );
    assert_eq!(store.get_status(r2).await.expect("r2 status"), None);
    store
        .put_status(r2, &status_record(3))
        .await
        .expect("put status r2");
    let mut listed = store.list_routers().await.expect("list");
    listed.sort();
    assert_eq!(listed, vec![r1.clone(), r2.clone()], "{what}: list");
    assert_eq!(store.get(r2).await.expect("get r2"), None);
    assert!(store.history(r2).await.expect("history r2").is_empty());
}

/// The kind of a write survives the round trip through the store (and its server).
async fn check_kinds(store: &dyn ConfigStore, r1: &RouterId) {
    let what = store.describe();
    let current = store.get(r1).await.expect("get").expect("present");
    let v = store
        .put(
            r1,
            &current.text,
            &Expect::Version(current.version),
            &message(WriteKind::Push, "pushed by hand"),
        )
        .await
        .expect("push");
    store
        .archive(
            r1,
            "# lost\n",
            &message(WriteKind::Conflict, "the other side"),
        )
        .await
        .expect("archive");
    let history = store.history(r1).await.expect("history");
    let pushed = history
        .iter()
        .find(|h| h.version == v)
        .expect("pushed entry");
    let note = pushed.note();
    assert_eq!(
        (note.kind, note.summary.as_str()),
        (Some(WriteKind::Push), "pushed by hand"),
        "{what}: {:?}",
        pushed.message
    );
    assert!(
        history
            .iter()
            .any(|h| h.note().kind == Some(WriteKind::Conflict)),
        "{what}: archived kind lost: {history:?}"
    );
}

/// A valid status record (the store server refuses others), told apart by `n`.
pub fn status_record(n: u64) -> Vec<u8> {
    super::StatusReport {
        agent_version: "contract".into(),
        unix_time: 1_700_000_000 + n,
        boot_unix_time: 1_700_000_000,
        heartbeat_secs: 60,
        phase: "running".into(),
        reason: None,
        running_version: None,
        store_version: None,
        snapshot_pending: false,
        last_error: None,
        bgp: None,
        last_apply: None,
        owned: super::status::Owned::default(),
    }
    .to_bytes()
}
