//! The mission end to end: three VMs (client, router, server) booted from the image, their
//! configs in the store on the host; traffic through the router; the router changed by
//! hand, snapshotted, rebooted and found the same; a change right before `poweroff`, and
//! one before a power cut, both survive.

use std::time::Duration;

use router_agent::store::{Expect, RouterId};
use vm_tests::state::{assert_same, snapshot};
use vm_tests::{free_port, Image, Link, Postmortem, Scratch, StoreServer, Vm, VmSpec};

const ROUTER: &str = r#"version = 1
hostname = "r1"

[sysctl]
ipv4_forwarding = true

[[interface]]
name = "lan"
kind = "physical"
physical = { match_mac = "52:54:00:00:01:01" }
addresses = ["10.1.0.1/24"]

[[interface]]
name = "dmz"
kind = "physical"
physical = { match_mac = "52:54:00:00:01:02" }
addresses = ["10.2.0.1/24"]

[firewall]
forward = "drop"

[[firewall.rule]]
chain = "forward"
state = ["established", "related"]
action = "accept"

[[firewall.rule]]
chain = "forward"
protocol = "icmp"
action = "accept"

[[firewall.rule]]
chain = "forward"
in_interface = "lan"
protocol = "tcp"
dport = 8080
action = "accept"
"#;

fn host(name: &str, mac: &str, addr: &str, via: &str, to: &str) -> String {
    format!(
        r#"version = 1
hostname = "{name}"

[[interface]]
name = "net"
kind = "physical"
physical = {{ match_mac = "{mac}" }}
addresses = ["{addr}"]

[[route]]
to = "{to}"
via = "{via}"
"#
    )
}

fn spec(name: &str, n: u8, store: &StoreServer, links: Vec<Link>) -> VmSpec {
    let mut s = VmSpec::new(name, n);
    s.append = format!(
        "router.store={} router.id={name} router.mgmt=10.0.2.15/24,gw=10.0.2.2,mac={}",
        store.guest_url(),
        s.mgmt_mac
    );
    s.links = links;
    s
}

fn link(port: u16, listen: bool, mac: &str) -> Link {
    Link {
        port,
        listen,
        mac: mac.into(),
    }
}

/// TCP to `addr:port` from the guest: "open" or "refused" when the packet got there,
/// "timeout" when it was dropped on the way.
fn tcp(vm: &mut Vm, addr: &str, port: u16) -> String {
    let out = vm.sh(&format!(
        "timeout 3 bash -c 'echo > /dev/tcp/{addr}/{port}' 2>&1; echo rc=$?"
    ));
    if out.contains("rc=124") {
        "timeout".into()
    } else if out.contains("refused") {
        "refused".into()
    } else {
        format!("other: {out}")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn boot_traffic_round_trip_shutdown_and_power_cut() {
    let image = Image::find();
    let work = Scratch::new("mission");
    let store = StoreServer::start(&work.path("store"), free_port());
    // A failure prints every guest's console and what the store holds.
    let mut report = Postmortem::new(&store);
    let client = store.client();
    let (p1, p2) = (free_port(), free_port());
    for (id, text) in [
        ("r1", ROUTER.to_owned()),
        (
            "c1",
            host(
                "c1",
                "52:54:00:00:02:01",
                "10.1.0.2/24",
                "10.1.0.1",
                "10.2.0.0/24",
            ),
        ),
        (
            "s1",
            host(
                "s1",
                "52:54:00:00:03:01",
                "10.2.0.2/24",
                "10.2.0.1",
                "10.1.0.0/24",
            ),
        ),
    ] {
        let id = RouterId::new(id).expect("id");
        client
            .put(&id, &text, &Expect::Absent, "seed")
            .await
            .expect("seed the store");
    }

    let router_links = vec![
        link(p1, true, "52:54:00:00:01:01"),
        link(p2, true, "52:54:00:00:01:02"),
    ];
    let mut r1 = Vm::boot(spec("r1", 1, &store, router_links.clone()), &image, &work.0);
    report.watch(&r1);
    let mut c1 = Vm::boot(
        spec("c1", 2, &store, vec![link(p1, false, "52:54:00:00:02:01")]),
        &image,
        &work.0,
    );
    report.watch(&c1);
    let mut s1 = Vm::boot(
        spec("s1", 3, &store, vec![link(p2, false, "52:54:00:00:03:01")]),
        &image,
        &work.0,
    );
    report.watch(&s1);
    for vm in [&mut r1, &mut c1, &mut s1] {
        let t = vm.await_running(Duration::from_secs(120));
        eprintln!(
            "{}: config applied {:.1} s after qemu started",
            vm.spec.name,
            t.as_secs_f64()
        );
    }

    // 1. Traffic through the router, as its firewall says.
    c1.until(
        "ping through the router",
        "ping -c1 -W1 10.2.0.2 >/dev/null && echo ok",
        Duration::from_secs(30),
        |o| o.contains("ok"),
    );
    assert_eq!(
        tcp(&mut c1, "10.2.0.2", 8080),
        "refused",
        "allowed port reaches the server"
    );
    assert_eq!(
        tcp(&mut c1, "10.2.0.2", 9090),
        "timeout",
        "other ports are dropped"
    );

    // 2. Changed by hand; the store gets it; a reboot finds exactly the same state.
    r1.sh("ip route add 10.50.0.0/16 via 10.2.0.2 proto static");
    r1.sh("ip rule add from 10.1.0.0/24 to 10.60.0.0/16 table 100 priority 1000");
    r1.sh("ip route add 10.60.0.0/16 via 10.2.0.2 table 100 proto static");
    r1.sh("nft add rule inet router_agent forward iifname lan tcp dport 9090 accept");
    let r1_id = RouterId::new("r1").expect("id");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let cur = client.get(&r1_id).await.expect("store").expect("config");
        if ["10.50.0.0/16", "10.60.0.0/16", "9090"]
            .iter()
            .all(|s| cur.text.contains(s))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "hand changes not in the store:\n{}",
            cur.text
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        tcp(&mut c1, "10.2.0.2", 9090),
        "refused",
        "the hand-added rule works"
    );
    let before = snapshot(&mut r1);
    r1.kill();
    let mut r1 = Vm::boot(spec("r1", 1, &store, router_links.clone()), &image, &work.0);
    report.watch(&r1);
    r1.await_running(Duration::from_secs(120));
    assert_same(&before, &snapshot(&mut r1), "router after a reboot");

    // 3. A change right before poweroff survives.
    r1.sh("ip address add 10.2.0.9/24 dev dmz");
    r1.poweroff(Duration::from_secs(60));
    let mut r1 = Vm::boot(spec("r1", 1, &store, router_links.clone()), &image, &work.0);
    report.watch(&r1);
    r1.await_running(Duration::from_secs(120));
    r1.until(
        "the address added before poweroff",
        "ip -br addr show dev dmz",
        Duration::from_secs(10),
        |o| o.contains("10.2.0.9/24"),
    );

    // 4. A power cut after the change snapshot: it survives. The commit holds that route
    // and nothing else (no sysctls, lo, random MACs or layout the operator did not touch).
    let prior = client
        .get(&r1_id)
        .await
        .expect("store")
        .expect("config")
        .text;
    r1.sh("ip route add 10.70.0.0/16 via 10.2.0.2 proto static");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let after = loop {
        let text = client
            .get(&r1_id)
            .await
            .expect("store")
            .expect("config")
            .text;
        if text.contains("10.70.0.0/16") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the change never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_minimal_diff(&prior, &after, "10.70.0.0/16");
    r1.kill();
    let mut r1 = Vm::boot(spec("r1", 1, &store, router_links), &image, &work.0);
    report.watch(&r1);
    r1.await_running(Duration::from_secs(120));
    r1.until(
        "the route after the power cut",
        "ip route show 10.70.0.0/16",
        Duration::from_secs(10),
        |o| o.contains("via 10.2.0.2"),
    );
    let history = client.history(&r1_id).await.expect("history");
    eprintln!("r1 history: {} versions", history.len());
}

/// `after` is `before` plus one `[[route]]` entry to `to`, and nothing else changed.
fn assert_minimal_diff(before: &str, after: &str, to: &str) {
    let mut removed: Vec<&str> = before.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut added = Vec::new();
    for line in after.lines().filter(|l| !l.trim().is_empty()) {
        match removed.iter().position(|r| *r == line) {
            Some(i) => {
                removed.remove(i);
            }
            None => added.push(line),
        }
    }
    let route_line = |l: &&str| {
        ["[[route]]", "to = ", "via = ", "dev = "]
            .iter()
            .any(|p| l.starts_with(p))
    };
    assert!(
        removed.is_empty()
            && added.iter().all(route_line)
            && added.contains(&format!("to = \"{to}\"").as_str()),
        "the commit is not just the route to {to}: removed {removed:?}, added {added:?}\n--- before:\n{before}\n--- after:\n{after}"
    );
}
