//! The store at boot: down (the router waits, says so, and comes up when the store
//! returns), and a refused newest config (the router boots the newest good version from
//! history and reports it).

use std::time::Duration;

use router_agent::store::{Expect, RouterId};
use vm_tests::{free_port, Image, Postmortem, Scratch, StoreServer, Vm, VmSpec};

const GOOD: &str = r#"version = 1
hostname = "r2"

[[interface]]
name = "svc"
kind = "dummy"
addresses = ["203.0.113.7/32"]
"#;

/// Valid TOML the agent refuses: a VLAN on a parent that does not exist.
const BAD: &str = r#"version = 1
hostname = "r2"

[[interface]]
name = "svc.9"
kind = "vlan"
vlan = { parent = "nope", id = 9 }
"#;

fn spec(store: &StoreServer) -> VmSpec {
    let mut s = VmSpec::new("r2", 9);
    s.append = format!(
        "router.store={} router.id=r2 router.mgmt=10.0.2.15/24,gw=10.0.2.2,mac={}",
        store.guest_url(),
        s.mgmt_mac
    );
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn store_down_at_boot_then_a_refused_newest_config() {
    let image = Image::find();
    let work = Scratch::new("store-trouble");
    let mut store = StoreServer::start(&work.path("store"), free_port());
    // A failure prints every guest's console and what the store holds.
    let mut report = Postmortem::new(&store);
    let client = store.client();
    let id = RouterId::new("r2").expect("id");
    let v1 = client
        .put(&id, GOOD, &Expect::Absent, "good")
        .await
        .expect("seed");

    // Down at boot: the router waits and says what for.
    store.down();
    let mut vm = Vm::boot(spec(&store), &image, &work.0);
    report.watch(&vm);
    vm.until(
        "the status says it waits for the store",
        "router-agent status",
        Duration::from_secs(90),
        |s| s.contains("waiting for the store"),
    );
    assert!(!vm.sh("ip -br addr").contains("203.0.113.7"));
    store.up();
    vm.await_running(Duration::from_secs(90));
    vm.until(
        "the config applied",
        "ip -br addr show dev svc",
        Duration::from_secs(10),
        |o| o.contains("203.0.113.7/32"),
    );

    // A refused newest version: the next boot runs the good one and says so.
    client
        .put(&id, BAD, &Expect::Version(v1), "bad push")
        .await
        .expect("bad push");
    vm.until(
        "the store-side edit is refused",
        "router-agent status",
        Duration::from_secs(60),
        |s| s.contains("DEGRADED"),
    );
    vm.kill();
    let mut vm = Vm::boot(spec(&store), &image, &work.0);
    report.watch(&vm);
    let status = vm.until(
        "degraded boot",
        "router-agent status",
        Duration::from_secs(120),
        |s| s.contains("DEGRADED") || s.contains("daemon: running"),
    );
    assert!(status.contains("DEGRADED: newest version"), "{status}");
    assert!(vm.sh("ip -br addr show dev svc").contains("203.0.113.7/32"));
    let metrics = vm.sh("cat /run/router-agent/metrics.prom");
    assert!(metrics.contains("router_agent_degraded 1"), "{metrics}");
}
