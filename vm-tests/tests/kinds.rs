//! The link kinds the host kernel lacks, in two image VMs wired by three links: a VLAN
//! carrying pings, a round-robin bond of two links that keeps passing when one of them
//! is cut, a VRF with a VLAN and a dummy enslaved and a route in its table (`ip vrf exec`),
//! dummies reached through routes, and a WireGuard tunnel over the VLAN. Then hand changes
//! (a peer's allowed IPs with `wg set`, a VLAN with `ip link add`) reach the store, and one
//! router rebooted against the same store comes back with the same `ip -j`, `nft -j` and
//! `wg` state, its traffic passing again.

use std::time::{Duration, Instant};

use router_agent::store::{ConfigStore, Expect, RouterId};
use vm_tests::state::{assert_same, snapshot};
use vm_tests::{free_port, Image, Link, Postmortem, Scratch, StoreServer, Vm, VmSpec};

/// Key pairs made for this test (`wg genkey`, `wg pubkey`).
const A_PRIVATE: &str = "iCywDbEb7xJWKmeI/1t6xN4cSGCeP+6sZc54KNfmCl4=";
const A_PUBLIC: &str = "peGftodWPUXnzoWkZCxuYAj+/cW2cU0LkkHbDcs9emU=";
const B_PRIVATE: &str = "gJ6nUFtRHOitiVY4d6W45cgxutObsFCbppB2aL2PlVM=";
const B_PUBLIC: &str = "fQKK4JzPhchvrS4WUdkiWioSl7mMHXfTa/KphNe3AFA=";
const PSK: &str = "sh8Ah+X6TJisMZ2sf04sameFtcy0oqXA+GqmIVQz7i0=";

/// One router's config. `n` is 1 (A) or 2 (B); `other` the peer's number.
fn config(n: u8) -> String {
    let other = 3 - n;
    let (private, peer_public, peer_ips, dummies) = if n == 1 {
        (
            A_PRIVATE,
            B_PUBLIC,
            r#"["10.99.0.2/32", "10.98.0.0/24"]"#,
            // A reaches B's dummies: one through the bond, one through the tunnel, one in
            // the VRF.
            r#"
[[interface]]
name = "dum0"
kind = "dummy"
addresses = ["10.250.0.1/32"]

[[route]]
to = "10.251.0.0/24"
via = "10.101.0.2"

[[route]]
to = "10.98.0.0/24"
dev = "wg0"

[[route]]
to = "10.201.0.0/24"
via = "10.200.0.2"
dev = "l1.200"
table = "blue"
"#,
        )
    } else {
        (
            B_PRIVATE,
            A_PUBLIC,
            r#"["10.99.0.1/32"]"#,
            r#"
[[interface]]
name = "dum0"
kind = "dummy"
addresses = ["10.251.0.1/32"]

[[interface]]
name = "dum1"
kind = "dummy"
addresses = ["10.98.0.1/32"]

[[interface]]
name = "bluedum"
kind = "dummy"
addresses = ["10.201.0.1/32"]

[[route]]
to = "10.250.0.0/24"
via = "10.101.0.1"
"#,
        )
    };
    let vrf_members = if n == 1 {
        r#"["l1.200"]"#
    } else {
        r#"["l1.200", "bluedum"]"#
    };
    format!(
        r#"version = 1
hostname = "k{n}"

[tables]
blue = 10

[[interface]]
name = "l1"
kind = "physical"
physical = {{ match_mac = "52:54:00:00:0{n}:01" }}

[[interface]]
name = "l2"
kind = "physical"
physical = {{ match_mac = "52:54:00:00:0{n}:02" }}

[[interface]]
name = "l3"
kind = "physical"
physical = {{ match_mac = "52:54:00:00:0{n}:03" }}

[[interface]]
name = "l1.100"
kind = "vlan"
vlan = {{ parent = "l1", id = 100 }}
addresses = ["10.100.0.{n}/24"]

[[interface]]
name = "l1.200"
kind = "vlan"
vlan = {{ parent = "l1", id = 200 }}
addresses = ["10.200.0.{n}/24"]

[[interface]]
name = "blue"
kind = "vrf"
vrf = {{ table = "blue", members = {vrf_members} }}

[[interface]]
name = "bond0"
kind = "bond"
bond = {{ mode = "balance-rr", members = ["l2", "l3"], miimon = 100 }}
addresses = ["10.101.0.{n}/24"]

[[interface]]
name = "wg0"
kind = "wireguard"
addresses = ["10.99.0.{n}/24"]

[interface.wireguard]
private_key = "{private}"
listen_port = 51820

[[interface.wireguard.peer]]
public_key = "{peer_public}"
preshared_key = "{PSK}"
endpoint = "10.100.0.{other}:51820"
allowed_ips = {peer_ips}
{dummies}"#
    )
}

fn spec(n: u8, store: &StoreServer, ports: &[u16; 3]) -> VmSpec {
    let name = format!("k{n}");
    let mut s = VmSpec::new(&name, 0x10 + n);
    // No default route: a ping that misses its route fails here instead of leaving
    // through qemu's user network. The store is on the management subnet.
    s.append = format!(
        "router.store={} router.id={name} router.mgmt=10.0.2.15/24,mac={}",
        store.guest_url(),
        s.mgmt_mac
    );
    // B listens: qemu takes a new connection on a listening socket after the peer went
    // away, so A (the one rebooted) connects again; a connecting side never reconnects.
    s.links = ports
        .iter()
        .zip(1..)
        .map(|(port, i)| Link {
            port: *port,
            listen: n == 2,
            mac: format!("52:54:00:00:0{n}:0{i}"),
        })
        .collect();
    s
}

/// Whether something listens on TCP `port` (from /proc/net/tcp: a probe connection
/// would be taken by qemu as its peer).
fn listening(port: u16) -> bool {
    let tcp = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let local = format!(":{port:04X}");
    tcp.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1].ends_with(&local) && f[3] == "0A"
    })
}

/// Boots the routers at once (each boot waits for its shell), a router whose links
/// connect only once their listeners are up; then waits for their agents.
fn boot_all(specs: Vec<VmSpec>, image: &Image, work: &std::path::Path) -> Vec<Vm> {
    let mut vms: Vec<Vm> = std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .into_iter()
            .map(|spec| {
                s.spawn(move || {
                    let t = Instant::now();
                    while !spec.links.iter().all(|l| l.listen || listening(l.port)) {
                        assert!(
                            t.elapsed() < Duration::from_secs(60),
                            "{}: nothing listens on its links' ports",
                            spec.name
                        );
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Vm::boot(spec, image, work)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a boot thread"))
            .collect()
    });
    for vm in &mut vms {
        let t = vm.await_running(Duration::from_secs(180));
        eprintln!(
            "{}: config applied {:.1} s after qemu started",
            vm.spec.name,
            t.as_secs_f64()
        );
    }
    vms
}

fn ping(vm: &mut Vm, what: &str, cmd: &str) {
    vm.until(
        what,
        &format!("{cmd} >/dev/null 2>&1 && echo pong"),
        Duration::from_secs(30),
        |o| o.contains("pong"),
    );
}

/// Traffic over every kind, seen from router A.
fn traffic(a: &mut Vm) {
    ping(a, "ping over the VLAN", "ping -c1 -W1 10.100.0.2");
    ping(a, "ping over the bond", "ping -c1 -W1 10.101.0.2");
    ping(
        a,
        "ping to B's dummy through a route over the bond",
        "ping -c1 -W1 -I 10.250.0.1 10.251.0.1",
    );
    ping(
        a,
        "ping in the VRF to B's dummy in its VRF",
        "ip vrf exec blue ping -c1 -W1 10.201.0.1",
    );
    let (rc, out) = a.sh_rc("ping -c1 -W1 10.201.0.1 2>&1", Duration::from_secs(10));
    assert_ne!(rc, 0, "the VRF's prefix leaks into the main table:\n{out}");
    ping(
        a,
        "ping through the WireGuard tunnel",
        "ping -c1 -W1 10.99.0.2",
    );
    ping(
        a,
        "ping to B's dummy through a route into the tunnel",
        "ping -c1 -W1 10.98.0.1",
    );
}

/// `wg show all dump` without what changes by itself (handshake times, byte counters).
fn wg_state(vm: &mut Vm) -> Vec<String> {
    let dump = vm.sh("wg show all dump");
    let mut lines: Vec<String> = dump
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            match f.len() {
                // interface: name, private key, public key, port, fwmark
                5 => f.join(" "),
                // peer: name, key, psk, endpoint, allowed IPs (in the order they were added:
                // sorted here), handshake, rx, tx, keepalive
                9 => {
                    let mut ips: Vec<&str> = f[4].split(',').collect();
                    ips.sort_unstable();
                    [f[0], f[1], f[2], f[3], &ips.join(","), f[8]].join(" ")
                }
                _ => panic!("unexpected `wg show all dump` line: {l:?}"),
            }
        })
        .collect();
    lines.sort();
    lines
}

async fn await_in_store(store: &dyn ConfigStore, id: &RouterId, wanted: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cur = store.get(id).await.expect("store").expect("a config");
        if wanted.iter().all(|w| cur.text.contains(w)) {
            return cur.text;
        }
        assert!(
            Instant::now() < deadline,
            "not in the store within 30 s: {wanted:?}\n{}",
            cur.text
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn vlan_bond_vrf_dummy_wireguard_carry_traffic_and_survive_a_reboot() {
    let t0 = Instant::now();
    let image = Image::find();
    let work = Scratch::new("kinds");
    let store = StoreServer::start(&work.path("store"), free_port());
    // A failure prints every guest's console and what the store holds.
    let mut report = Postmortem::new(&store);
    let client = store.client();
    for n in [1, 2] {
        let id = RouterId::new(&format!("k{n}")).expect("id");
        client
            .put(&id, &config(n), &Expect::Absent, "seed")
            .await
            .expect("seed the store");
    }
    let ports = [free_port(), free_port(), free_port()];
    let mut vms = boot_all(
        vec![spec(1, &store, &ports), spec(2, &store, &ports)],
        &image,
        &work.0,
    );
    vms.iter().for_each(|v| report.watch(v));
    let mut b = vms.pop().expect("k2");
    let mut a = vms.pop().expect("k1");
    eprintln!("both routers up: {:.1} s", t0.elapsed().as_secs_f64());

    // 1. Traffic over each kind.
    traffic(&mut a);
    let hs = a.sh("wg show wg0 latest-handshakes");
    assert!(
        hs.contains(B_PUBLIC) && !hs.trim_end().ends_with("\t0"),
        "no handshake with B:\n{hs}"
    );
    assert!(
        !a.sh("router-agent show").contains(A_PRIVATE),
        "show prints the private key"
    );
    assert!(a.sh("router-agent show --secrets").contains(A_PRIVATE));

    // 2. A member link of the bond is cut (both ends see it down): pings go on over the
    // other, then it comes back. Round-robin, not active-backup: back to back, without a
    // switch, the two ends of an active-backup bond may pick different active links after
    // one of them reboots, and then drop each other's frames.
    for vm in [&mut a, &mut b] {
        vm.sh("ip link set l2 down");
    }
    let out = a.sh("ping -c4 -i0.3 -W1 10.101.0.2 | grep -o '[0-9]* received'");
    assert_eq!(out, "4 received", "pings over the bond's other link");
    for vm in [&mut a, &mut b] {
        vm.sh("ip link set l2 up");
    }
    eprintln!(
        "traffic and failover checked: {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // 3. Hand changes reach the store. WireGuard sends no change events: the peer change
    // lands with the snapshot the VLAN's link event starts.
    let a_id = RouterId::new("k1").expect("id");
    a.sh(&format!(
        "wg set wg0 peer {B_PUBLIC} allowed-ips 10.99.0.2/32,10.98.0.0/24,10.97.0.0/24"
    ));
    // Up: a VLAN kept down on a NIC renamed at boot comes up with its parent (the
    // kernel raises VLANs with their parent), which the planner does not yet undo.
    a.sh("ip link add link l1 name l1.300 type vlan id 300");
    a.sh("ip address add 10.30.0.1/24 dev l1.300");
    a.sh("ip link set l1.300 up");
    let text = await_in_store(
        client.as_ref(),
        &a_id,
        &["l1.300", "10.30.0.1/24", "10.97.0.0/24"],
    )
    .await;
    assert!(
        text.contains(A_PRIVATE),
        "the store's snapshot must keep the private key to restore it"
    );

    // 4. A reboots against the same store (its last snapshot is taken at shutdown): the
    // same state, and traffic passes again.
    let before = (snapshot(&mut a), wg_state(&mut a));
    a.poweroff(Duration::from_secs(90));
    let t = Instant::now();
    let mut a = boot_all(vec![spec(1, &store, &ports)], &image, &work.0)
        .pop()
        .expect("k1");
    report.watch(&a);
    eprintln!("k1 rebooted in {:.1} s", t.elapsed().as_secs_f64());
    let after = (snapshot(&mut a), wg_state(&mut a));
    assert_same(&before.0, &after.0, "k1 after a reboot (ip -j, nft -j)");
    assert_eq!(before.1, after.1, "k1's WireGuard state after a reboot");
    traffic(&mut a);
    ping(
        &mut a,
        "ping over the hand-made VLAN's parent",
        "ping -c1 -W1 10.100.0.2",
    );
    eprintln!("total: {:.1} s", t0.elapsed().as_secs_f64());
}
