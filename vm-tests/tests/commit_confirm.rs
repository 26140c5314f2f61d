//! Commit-confirm in the image: a firewall change that cuts the router off its management
//! network (and the store) is undone by itself, the router is reachable again, and the
//! unconfirmed config never reaches the store.

use std::time::Duration;

use router_agent::store::{Expect, RouterId};
use vm_tests::{free_port, Image, Postmortem, Scratch, StoreServer, Vm, VmSpec};

const OPEN: &str = r#"version = 1
hostname = "r3"

[[interface]]
name = "eth0"
kind = "physical"
physical = { match_mac = "52:54:00:00:00:0a" }
addresses = ["10.0.2.15/24"]

[[route]]
to = "0.0.0.0/0"
via = "10.0.2.2"
dev = "eth0"

[firewall]
input = "drop"

[[firewall.rule]]
chain = "input"
state = ["established", "related"]
action = "accept"
"#;

/// The same router whose firewall forgot established traffic: nothing comes back in.
fn cut() -> String {
    OPEN.replace(
        "state = [\"established\", \"related\"]\naction = \"accept\"",
        "protocol = \"tcp\"\ndport = 2222\naction = \"accept\"",
    )
}

/// TCP from the guest to the store server on the host.
fn reaches_store(vm: &mut Vm, port: u16) -> bool {
    vm.sh(&format!(
        "timeout 3 bash -c 'echo > /dev/tcp/10.0.2.2/{port}' && echo yes || echo no"
    ))
    .contains("yes")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_off_router_undoes_the_change_by_itself() {
    let image = Image::find();
    let work = Scratch::new("commit-confirm");
    let port = free_port();
    let store = StoreServer::start(&work.path("store"), port);
    // A failure prints every guest's console and what the store holds.
    let mut report = Postmortem::new(&store);
    let client = store.client();
    let id = RouterId::new("r3").expect("id");
    client
        .put(&id, OPEN, &Expect::Absent, "seed")
        .await
        .expect("seed");
    let mut s = VmSpec::new("r3", 10);
    s.append = format!(
        "router.store={} router.id=r3 router.mgmt=10.0.2.15/24,gw=10.0.2.2,mac={}",
        store.guest_url(),
        s.mgmt_mac
    );
    let mut vm = Vm::boot(s, &image, &work.0);
    report.watch(&vm);
    vm.await_running(Duration::from_secs(120));
    assert!(
        reaches_store(&mut vm, port),
        "the store is reachable before the change"
    );

    vm.sh(&format!("cat > /tmp/cut.toml <<'EOF'\n{}EOF", cut()));
    let out = vm.sh("router-agent apply --confirm 15 /tmp/cut.toml 2>&1");
    assert!(out.contains("router-agent confirm"), "{out}");
    assert!(
        !reaches_store(&mut vm, port),
        "the change cuts the router off"
    );
    vm.until(
        "the change undone by itself",
        "nft list chain inet router_agent input",
        Duration::from_secs(40),
        |o| o.contains("established"),
    );
    assert!(reaches_store(&mut vm, port), "reachable again");
    let result = vm.sh("cat /run/router-agent/confirm-result");
    assert!(result.contains("not confirmed in time"), "{result}");
    // The daemon held its snapshots: the store never had the cut config.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for h in client.history(&id).await.expect("history") {
        let text = client.get_version(&id, &h.version).await.expect("version");
        assert!(
            !text.contains("2222"),
            "an unconfirmed config reached the store:\n{text}"
        );
    }
}
