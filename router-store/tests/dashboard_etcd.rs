//! `router-store serve --store etcd://...`: the same dashboard over a real etcd (the
//! store-client tests' harness), and a rollback from it written to etcd.

#[path = "../../store-client/tests/store_support/etcd_cluster.rs"]
#[allow(dead_code)] // the harness does more than this test needs
mod etcd_cluster;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/web.rs"]
#[allow(dead_code)] // each test file uses some of it
mod web;

use router_store_client::{open, Expect, RouterId, StoreOptions};
use serve::Serve;
use web::{config, get, post_form, status_json};

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_over_etcd() {
    let cluster = etcd_cluster::Cluster::start(1).await;
    let url = cluster.url("fleet");
    let store = open(&url, &StoreOptions::default()).expect("etcd store");
    let id = RouterId::new("r1").expect("id");
    let v1 = store
        .put(&id, &config("r1", 1), &Expect::Absent, "first")
        .await
        .expect("put v1");
    let v2 = store
        .put(
            &id,
            &config("r1", 2),
            &Expect::Version(v1.clone()),
            "second",
        )
        .await
        .expect("put v2");
    let report = status_json(0, 60, "running", None);
    store
        .put_status(&id, report.as_bytes())
        .await
        .expect("status");

    let serve = Serve::start_over(&url, &[]);
    let (base, target) = (serve.url.clone(), v1.0.clone());
    let answers = tokio::task::spawn_blocking(move || {
        let fleet = get(&base, "/");
        let page = get(&base, "/routers/r1");
        let api = get(&base, "/v1/routers");
        let rollback = post_form(
            &base,
            "/routers/r1/rollback",
            &[("version", &target), ("confirm", "yes")],
            &[],
        );
        (fleet, page, api, rollback)
    })
    .await
    .expect("requests");
    let (fleet, page, api, rollback) = answers;
    assert_eq!(fleet.status, 200);
    assert!(
        fleet.body.contains("<tr id=\"router-r1\""),
        "{}",
        fleet.body
    );
    assert!(fleet.body.contains("data-health=\"ok\""));
    assert!(
        page.body
            .contains(&format!("r1@{v1}</code> → <code>r1@{v2}")),
        "{}",
        page.body
    );
    assert_eq!(api.status, 404, "the dashboard alone: no API");
    assert_eq!(rollback.status, 200, "{}", rollback.body);
    let current = store.get(&id).await.expect("get").expect("a config");
    assert_eq!(current.text, config("r1", 1));
    assert!(current.version != v1 && current.version != v2);
    let history = store.history(&id).await.expect("history");
    assert_eq!(history.len(), 3);
    assert!(
        history[0].message.contains("rollback to"),
        "{:?}",
        history[0]
    );
}
