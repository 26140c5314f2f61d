//! An IXP in VMs: a route server and three member routers on one peering LAN (a qemu
//! multicast segment), every one of them the real image with its config, `[bgp]` included,
//! from the store on the host. The route server's BIRD passes the members' routes on
//! without its ASN and with their own next hops, and keeps what its filters refuse; the
//! members install what they learn and reach each other's prefixes directly. A member's
//! hand-applied announcement lands in the store; the route server is powered off and booted
//! again from the store, and its sessions, routes and state come back the same.
//!
//! ```text
//!   c1 203.0.113.1 AS10001, 185.1.0.0/24 ─┐
//!   c2 203.0.113.2 AS10002, 185.2.0.0/24 ─┼─ peering LAN ─ 203.0.113.254 rs AS64500
//!   c3 203.0.113.3 AS10003, 185.3.0.0/24 ─┘
//! ```

use std::time::{Duration, Instant};

use router_agent::store::{ConfigStore, Expect, RouterId};
use vm_tests::state::{assert_same, snapshot};
use vm_tests::{free_port, Image, Lan, Postmortem, Scratch, StoreServer, Vm, VmSpec};

const RS_MAC: &str = "52:54:00:00:60:01";

/// The route server: BGP only from the members (a control-plane firewall, so the state
/// compared across the reboot has nftables in it too). A 30 s hold time: a member notices
/// a route server that vanished without a word in half a minute, not BIRD's default four.
const RS: &str = r#"version = 1
hostname = "rs"

[[interface]]
name = "ixp"
kind = "physical"
physical = { match_mac = "52:54:00:00:60:01" }
addresses = ["203.0.113.254/24"]

[firewall]
input = "drop"

[firewall.set.members]
type = "ipv4"
elements = "203.0.113.1 203.0.113.2 203.0.113.3"

[[firewall.rule]]
chain = "input"
state = ["established", "related"]
action = "accept"

[[firewall.rule]]
chain = "input"
in_interface = "lo"
action = "accept"

[[firewall.rule]]
chain = "input"
protocol = "icmp"
action = "accept"

[[firewall.rule]]
chain = "input"
in_interface = "ixp"
source = "@members"
protocol = "tcp"
dport = 179
action = "accept"

[bgp]
asn = 64500
router_id = "203.0.113.254"
route_server = true

[[bgp.peer]]
name = "c1"
address = "203.0.113.1"
asn = 10001
hold_time = 30
allowed_prefixes = "185.1.0.0/16{16,24}"

[[bgp.peer]]
name = "c2"
address = "203.0.113.2"
asn = 10002
hold_time = 30
allowed_prefixes = "185.2.0.0/16{16,24} 10.2.0.0/16{16,24}"

[[bgp.peer]]
name = "c3"
address = "203.0.113.3"
asn = 10003
hold_time = 30
allowed_prefixes = "185.3.0.0/16{16,24}"
"#;

/// Member `n`: its prefix 185.n.0.0/24 (its own address 185.n.0.1 on `lo`), routes from
/// the route server installed in the kernel. The route server prepends no ASN and keeps
/// the next hops, so the checks for the first AS and the next hop being the peer's are off.
fn member(n: u8, extra_announces: &[&str]) -> String {
    let mut text = format!(
        r#"version = 1
hostname = "c{n}"

[[interface]]
name = "lo"
kind = "loopback"
addresses = ["185.{n}.0.1/32"]

[[interface]]
name = "ixp"
kind = "physical"
physical = {{ match_mac = "{mac}" }}
addresses = ["203.0.113.{n}/24"]

[bgp]
asn = {asn}
router_id = "203.0.113.{n}"
install_routes = true

[bgp.policy.default]
first_as = false
next_hop = false

[[bgp.peer]]
name = "rs"
address = "203.0.113.254"
asn = 64500

[[bgp.announce]]
prefix = "185.{n}.0.0/24"
"#,
        mac = member_mac(n),
        asn = 10000 + u32::from(n),
    );
    for prefix in extra_announces {
        text.push_str(&format!("\n[[bgp.announce]]\nprefix = \"{prefix}\"\n"));
    }
    text
}

fn member_mac(n: u8) -> String {
    format!("52:54:00:00:6{n}:01")
}

/// c2 also announces a bogon (the RS's reason 2, although in its list), c3 a prefix outside
/// its list (reason 8): the route server keeps both, tagged, and sends them to nobody.
const BOGON: &str = "10.2.0.0/24";
const UNLISTED: &str = "185.99.0.0/24";
/// What c1 announces by hand, later.
const BY_HAND: &str = "185.1.1.0/24";

fn spec(name: &str, n: u8, store: &StoreServer, lan: &Lan, lan_mac: &str) -> VmSpec {
    let mut s = VmSpec::new(name, n);
    s.append = format!(
        "router.store={} router.id={name} router.mgmt=10.0.2.15/24,gw=10.0.2.2,mac={}",
        store.guest_url(),
        s.mgmt_mac
    );
    s.lans = vec![lan.nic(lan_mac)];
    s
}

/// Boots the guests, as many at a time as the host has cores: each is one TCG thread, and
/// more at once only slows every boot past the harness's bound for the shell.
fn boot_all(specs: Vec<VmSpec>, image: &Image, work: &std::path::Path) -> Vec<Vm> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut vms = Vec::new();
    for wave in specs.chunks(cores) {
        std::thread::scope(|s| {
            let handles: Vec<_> = wave
                .iter()
                .map(|spec| s.spawn(move || Vm::boot(spec.clone(), image, work)))
                .collect();
            for h in handles {
                vms.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
        });
    }
    vms
}

/// The route server's sessions from `router-agent status`, without their start times:
/// name, BIRD state, imported, filtered, exported, BGP state.
fn sessions(rs: &mut Vm) -> Vec<String> {
    rs.sh("router-agent status")
        .lines()
        .filter(|l| l.starts_with("p_"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // name state date time imported filtered exported info
            let keep = [0, 1, 4, 5, 6, 7];
            keep.iter()
                .filter_map(|&i| f.get(i).copied())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn all_established(rs: &mut Vm) {
    rs.until(
        "the route server's sessions with c1, c2, c3 Established",
        "router-agent status",
        Duration::from_secs(120),
        |o| {
            ["p_c1 ", "p_c2 ", "p_c3 "].iter().all(|p| {
                o.lines()
                    .any(|l| l.starts_with(p) && l.contains(" up ") && l.contains("Established"))
            })
        },
    );
}

/// `birdc show route PREFIX all`: the route for exactly that prefix, with its attributes.
fn route(vm: &mut Vm, prefix: &str) -> String {
    vm.sh_rc(
        &format!("birdc show route {prefix} all"),
        Duration::from_secs(30),
    )
    .1
}

/// Whether a `birdc show route` listing has `prefix` learned from the route server.
fn from_rs(listing: &str, prefix: &str) -> bool {
    listing
        .lines()
        .any(|l| l.starts_with(prefix) && l.contains("[p_rs "))
}

fn has(vm: &mut Vm, prefix: &str) -> bool {
    from_rs(&route(vm, prefix), prefix)
}

/// Waits until `vm` learned each of `prefixes` from the route server.
fn learns(vm: &mut Vm, prefixes: &[&str]) {
    let t = Instant::now();
    for p in prefixes {
        let cmd = format!("birdc show route {p} all");
        let left = Duration::from_secs(90).saturating_sub(t.elapsed());
        vm.until(&format!("{p} from the route server"), &cmd, left, |o| {
            from_rs(o, p)
        });
    }
}

async fn current(store: &dyn ConfigStore, id: &str) -> String {
    let id = RouterId::new(id).expect("id");
    store.get(&id).await.expect("store").expect("a config").text
}

#[tokio::test(flavor = "multi_thread")]
async fn route_server_with_three_members_across_a_reboot() {
    let t0 = Instant::now();
    let image = Image::find();
    let work = Scratch::new("route-server");
    let store = StoreServer::start(&work.path("store"), free_port());
    let client = store.client();
    let seeds = [
        ("rs", RS.to_owned()),
        ("c1", member(1, &[])),
        ("c2", member(2, &[BOGON])),
        ("c3", member(3, &[UNLISTED])),
    ];
    for (id, text) in &seeds {
        client
            .put(
                &RouterId::new(id).expect("id"),
                text,
                &Expect::Absent,
                "seed",
            )
            .await
            .expect("seed the store");
    }
    let mut report = Postmortem::new(&store);
    let lan = Lan::new();
    let rs_spec = spec("rs", 0x60, &store, &lan, RS_MAC);
    let specs = vec![
        rs_spec.clone(),
        spec("c1", 0x61, &store, &lan, &member_mac(1)),
        spec("c2", 0x62, &store, &lan, &member_mac(2)),
        spec("c3", 0x63, &store, &lan, &member_mac(3)),
    ];
    let mut vms = boot_all(specs, &image, &work.0).into_iter();
    let (mut rs, mut c1, mut c2, mut c3) = (
        vms.next().expect("rs"),
        vms.next().expect("c1"),
        vms.next().expect("c2"),
        vms.next().expect("c3"),
    );
    for vm in [&mut rs, &mut c1, &mut c2, &mut c3] {
        report.watch(vm);
        let t = vm.await_running(Duration::from_secs(180));
        eprintln!(
            "{}: config applied {:.1} s after qemu started",
            vm.spec.name,
            t.as_secs_f64()
        );
    }

    // 1. Sessions up, every member's routes at the others.
    all_established(&mut rs);
    eprintln!(
        "sessions established at {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    learns(&mut c1, &["185.2.0.0/24", "185.3.0.0/24"]);
    learns(&mut c2, &["185.1.0.0/24", "185.3.0.0/24"]);
    learns(&mut c3, &["185.1.0.0/24", "185.2.0.0/24"]);

    // Route-server semantics: c1's route reaches c2 with c1's AS path alone and c1's next
    // hop, and goes into c2's kernel pointing at c1, not at the route server.
    let r = route(&mut c2, "185.1.0.0/24");
    assert!(r.contains("BGP.as_path: 10001\n"), "c2 sees:\n{r}");
    assert!(r.contains("BGP.next_hop: 203.0.113.1\n"), "c2 sees:\n{r}");
    let k = c2.sh("ip route show 185.1.0.0/24");
    assert!(k.contains("via 203.0.113.1 dev ixp proto bird"), "{k}");

    // Filtered on the route server with their reasons, and passed to nobody.
    for (prefix, why, from) in [(BOGON, 2, "p_c2"), (UNLISTED, 8, "p_c3")] {
        let r = route(&mut rs, prefix);
        assert!(
            r.contains(&format!("(64500, 1101, {why})")) && r.contains(&format!("[{from} ")),
            "{prefix} on the route server, expected reason {why}:\n{r}"
        );
        for c in [&mut c1, &mut c2, &mut c3] {
            assert!(!has(c, prefix), "{prefix} was passed on to {}", c.spec.name);
        }
    }

    // The data plane: c1 and c3 reach each other's prefixes directly.
    c1.until(
        "ping from 185.1.0.1 to 185.3.0.1",
        "ping -c1 -W2 -I 185.1.0.1 185.3.0.1 >/dev/null && echo ok",
        Duration::from_secs(30),
        |o| o.contains("ok"),
    );

    // 2. c1's operator announces one more prefix by hand; the store gets it, the others
    // learn it through the route server.
    c1.sh(&format!(
        "cat > /tmp/c1.toml <<'EOF'\n{}EOF",
        member(1, &[BY_HAND])
    ));
    c1.sh("router-agent apply /tmp/c1.toml");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !current(client.as_ref(), "c1").await.contains(BY_HAND) {
        assert!(
            Instant::now() < deadline,
            "c1's hand-applied announcement is not in the store:\n{}",
            current(client.as_ref(), "c1").await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // What the store holds is the BGP section c1 applied, nothing lost or added.
    let bgp = |origin: &str, text: &str| {
        router_agent::model::load(origin, text)
            .unwrap_or_else(|e| panic!("{origin}: {e}"))
            .bgp
    };
    assert_eq!(
        bgp("store", &current(client.as_ref(), "c1").await),
        bgp("c1.toml", &member(1, &[BY_HAND])),
        "c1's [bgp] in the store"
    );
    learns(&mut c2, &[BY_HAND]);
    learns(&mut c3, &[BY_HAND]);

    // 3. The route server powered off: the members lose its routes; booted again from the
    // store: the same sessions, routes, bird.conf and state.
    let rs_stored = current(client.as_ref(), "rs").await;
    let bird_conf = rs.sh("cat /etc/bird/bird.conf");
    let rs_state = snapshot(&mut rs);
    let rs_sessions = sessions(&mut rs);
    rs.poweroff(Duration::from_secs(90));
    c2.until(
        "c2 to drop c1's route with the route server gone",
        "birdc show route 185.1.0.0/24",
        // At once on the route server's Cease; at worst when the 30 s hold time runs out.
        Duration::from_secs(60),
        |o| !o.lines().any(|l| l.starts_with("185.1.0.0/24")),
    );
    let t = Instant::now();
    let mut rs = Vm::boot(rs_spec, &image, &work.0);
    report.watch(&rs);
    rs.await_running(Duration::from_secs(180));
    all_established(&mut rs);
    learns(&mut c2, &["185.1.0.0/24", BY_HAND, "185.3.0.0/24"]);
    learns(&mut c1, &["185.2.0.0/24", "185.3.0.0/24"]);
    learns(&mut c3, &["185.1.0.0/24", BY_HAND, "185.2.0.0/24"]);
    eprintln!(
        "route server rebooted, sessions and routes back in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    // The exported counts settle once every member has sent everything.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = sessions(&mut rs);
        if now == rs_sessions {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the route server's sessions differ after the reboot:\nbefore: {rs_sessions:#?}\nafter: {now:#?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(bird_conf, rs.sh("cat /etc/bird/bird.conf"), "bird.conf");
    assert_same(&rs_state, &snapshot(&mut rs), "route server after a reboot");
    assert_eq!(
        rs_stored,
        current(client.as_ref(), "rs").await,
        "the reboot changed the route server's config in the store"
    );
    c3.until(
        "ping from 185.3.0.1 to 185.1.0.1 after the reboot",
        "ping -c1 -W2 -I 185.3.0.1 185.1.0.1 >/dev/null && echo ok",
        Duration::from_secs(30),
        |o| o.contains("ok"),
    );
    eprintln!("route server scenario: {:.0} s", t0.elapsed().as_secs_f64());
}
