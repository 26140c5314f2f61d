//! The boot contract's static management address and route are not config.

use super::*;

const MGMT: &str = "10.0.2.15/24";
const GW: &str = "10.0.2.2";

fn with_boot_state() -> Settings {
    Settings {
        boot_state: Some(crate::model::BootState {
            nic: "eth0".parse().expect("name"),
            address: MGMT.parse().expect("net"),
            gateway: Some(GW.parse().expect("ip")),
        }),
        ..settings()
    }
}

/// Boots from `text`, then puts the management address and route on the router (as the
/// boot contract had) with a hand change of the hostname, and returns the snapshot.
async fn snapshot_after_boot(text: &str) -> String {
    let store = Arc::new(MemoryStore::default());
    store
        .put(&id(), text, &Expect::Absent, "seed")
        .await
        .expect("seed");
    let mut h = Harness::with(store, FakeRouter::default(), with_boot_state());
    h.until("running", |s| s.phase == Phase::Running).await;
    {
        let mut st = h.router.state();
        let eth0 = &mut st.config.interfaces[0];
        if !eth0.addresses.contains(&MGMT.parse().expect("net")) {
            eth0.addresses.push(MGMT.parse().expect("net"));
        }
        if st.config.routes.is_empty() {
            st.config.routes.push(
                parsed(&format!(
                    "version = 1\n[[route]]\nto = \"0.0.0.0/0\"\nvia = \"{GW}\"\n"
                ))
                .routes
                .remove(0),
            );
        }
    }
    h.hand_edit("b").await;
    h.until("saved", |s| s.counters.snapshots == 1).await;
    let text = h.current().await.expect("saved").text;
    h.stop().await;
    text
}

#[tokio::test(start_paused = true)]
async fn the_management_address_and_route_stay_out_of_snapshots() {
    let text = snapshot_after_boot(
        "version = 1\nhostname = \"a\"\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\n",
    )
    .await;
    assert!(text.contains("hostname = \"b\""), "{text}");
    assert!(!text.contains(MGMT) && !text.contains(GW), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_config_that_names_the_management_address_owns_it() {
    let named = format!(
        "version = 1\nhostname = \"a\"\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\naddresses = [\"{MGMT}\"]\n\n[[route]]\nto = \"0.0.0.0/0\"\nvia = \"{GW}\"\n"
    );
    let text = snapshot_after_boot(&named).await;
    assert_eq!(text, named.replace("\"a\"", "\"b\""));
}
