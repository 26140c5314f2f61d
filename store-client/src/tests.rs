use super::*;

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    contract::check_contract(&MemoryStore::default()).await;
}

#[tokio::test]
async fn memory_store_down_is_transient() {
    let store = MemoryStore::default();
    store.set_down(true);
    let id = RouterId::new("r1").expect("valid id");
    let err = store.get(&id).await.expect_err("down");
    assert!(err.is_transient(), "{err}");
}

#[test]
fn names_are_path_safe() {
    for bad in [
        "",
        ".",
        "..",
        "../etc",
        "a/b",
        ".hidden",
        "a b",
        "é",
        &"x".repeat(65),
    ] {
        assert!(RouterId::new(bad).is_err(), "{bad:?} accepted");
    }
    for good in ["r1", "edge-01.fra", "A_b-c.d"] {
        assert!(RouterId::new(good).is_ok(), "{good:?} refused");
    }
}

#[tokio::test]
async fn fleet_rows_say_what_is_wrong_per_router_and_never_fail_for_one() {
    use crate::fleet::{rows, Health, NoCheck};
    use crate::note::{message, WriteKind};
    let store = MemoryStore::default();
    let id = |s: &str| RouterId::new(s).expect("valid id");
    let v = store
        .put(
            &id("ok"),
            "version = 1\n",
            &Expect::Absent,
            &message(WriteKind::Push, "p"),
        )
        .await
        .expect("put");
    store
        .archive(&id("ok"), "x", &message(WriteKind::Conflict, "lost"))
        .await
        .expect("archive");
    store
        .put_status(&id("ok"), &crate::contract::status_record(50))
        .await
        .expect("status");
    store
        .put_status(&id("garbled"), b"{\"agent_version\":")
        .await
        .expect("status");
    store
        .put_status(&id("stale"), &crate::contract::status_record(0))
        .await
        .expect("status");
    store
        .put(&id("silent"), "version = 1\n", &Expect::Absent, "seed")
        .await
        .expect("put");
    // 150 s after ok's record, 200 s after stale's (3 beats of 60 s: 180 s).
    let rows = rows(&store, &NoCheck, 1_700_000_200).await.expect("rows");
    let health: Vec<(&str, Health)> = rows.iter().map(|r| (r.id.as_str(), r.health)).collect();
    assert_eq!(
        health,
        [
            ("garbled", Health::Broken),
            ("ok", Health::Ok),
            ("silent", Health::NoReport),
            ("stale", Health::Stale)
        ]
    );
    let ok = &rows[1];
    let last = ok.last_write.as_ref().expect("last write");
    assert_eq!(
        (last.version.as_str(), last.kind),
        (v.0.as_str(), Some(WriteKind::Push)),
        "the current version's write, not the archive after it"
    );
    assert!(rows[0].problems[0].contains("status record is not valid"));
}
