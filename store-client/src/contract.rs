//! The behaviour every [`ConfigStore`] owes its callers, as one async check that each
//! backend's tests run against a fresh, empty store.

use std::time::Duration;

use super::{ConfigStore, Expect, FileName, RouterId, StoreError, StoreEvent};

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

    // A watch reports a change made after it started.
    let mut watch = store
        .watch(&r1, Some(v2.clone()), Duration::from_millis(100))
        .await
        .expect("watch");
    let v3 = store
        .put(
            &r1,
            "version = 1\nhostname = \"c\"\n",
            &Expect::Version(v2),
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
