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
