//! `router.mgmt=dhcp` and the persisted SSH host key in the image: the lease brings the
//! management address and default route, which stay out of the config (the store never
//! sees them) while the DHCP client keeps running to renew; the host key made on the
//! first boot reaches the store and comes back on the next boot.

use std::time::Duration;

use router_agent::store::{Expect, FileName, RouterId};
use serde_json::Value;
use vm_tests::{free_port, Image, Postmortem, Scratch, StoreServer, Vm, VmSpec};

const CONFIG: &str = r#"version = 1
hostname = "r4"

[[interface]]
name = "svc"
kind = "dummy"
addresses = ["203.0.113.9/32"]
"#;

fn spec(store: &StoreServer) -> VmSpec {
    let mut s = VmSpec::new("r4", 0x0b);
    s.append = format!(
        "router.store={} router.id=r4 router.mgmt=dhcp,mac={}",
        store.guest_url(),
        s.mgmt_mac
    );
    s
}

/// The management NIC's IPv4 addresses as `ip -j` gives them.
fn leased(vm: &mut Vm) -> Vec<Value> {
    let out = vm.sh("ip -j -4 addr show dev eth0");
    let links: Vec<Value> = serde_json::from_str(&out).expect("ip -j addr");
    links
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn fingerprint(vm: &mut Vm) -> String {
    vm.until(
        "an SSH host key",
        "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub",
        Duration::from_secs(60),
        |o| o.contains("ED25519"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn dhcp_lease_stays_out_of_the_config_and_the_host_key_persists() {
    let image = Image::find();
    let work = Scratch::new("mgmt-dhcp");
    let store = StoreServer::start(&work.path("store"), free_port());
    // A failure prints every guest's console and what the store holds.
    let mut report = Postmortem::new(&store);
    let client = store.client();
    let id = RouterId::new("r4").expect("id");
    client
        .put(&id, CONFIG, &Expect::Absent, "seed")
        .await
        .expect("seed");

    let mut vm = Vm::boot(spec(&store), &image, &work.0);
    report.watch(&vm);
    vm.await_running(Duration::from_secs(120));
    let addrs = leased(&mut vm);
    let lease = addrs
        .iter()
        .find(|a| a["local"] == "10.0.2.15")
        .unwrap_or_else(|| panic!("no leased 10.0.2.15 on eth0: {addrs:?}"));
    assert!(
        lease["valid_life_time"]
            .as_u64()
            .is_some_and(|t| t < u64::from(u32::MAX)),
        "the leased address carries the lease's lifetime: {lease}"
    );
    let route = vm.sh("ip -4 route show default");
    assert!(route.contains("proto dhcp"), "{route}");
    let clients = vm.sh("pgrep -c udhcpc || true");
    assert_eq!(
        clients.trim(),
        "1",
        "udhcpc keeps running to renew the lease"
    );

    // A hand change lands in the store; the lease does not.
    vm.sh("ip route add 198.51.100.0/24 dev svc");
    let mut stored = String::new();
    for _ in 0..120 {
        stored = client.get(&id).await.expect("store").expect("config").text;
        if stored.contains("198.51.100.0/24") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(stored.contains("198.51.100.0/24"), "snapshot:\n{stored}");
    assert!(
        !stored.contains("10.0.2.15"),
        "the lease is not config:\n{stored}"
    );
    assert!(
        !stored.contains("10.0.2.2"),
        "the DHCP route is not config:\n{stored}"
    );

    // First boot: the key made after the agent was ready is uploaded.
    let first = fingerprint(&mut vm);
    let name = FileName::new("ssh_host_ed25519_key.pub").expect("name");
    let mut uploaded = None;
    for _ in 0..60 {
        uploaded = client.get_file(&id, &name).await.expect("store");
        if uploaded.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(uploaded.is_some(), "the host key never reached the store");
    vm.kill();

    // Next boot: the stored key, not a new one.
    let mut vm = Vm::boot(spec(&store), &image, &work.0);
    report.watch(&vm);
    vm.await_running(Duration::from_secs(120));
    assert_eq!(
        fingerprint(&mut vm),
        first,
        "the host key changed across a reboot"
    );
    assert!(vm.sh("ip route show 198.51.100.0/24").contains("dev svc"));
}
