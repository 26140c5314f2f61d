//! The firewall against real packets: a client (LAN), a management host (MGMT) and a server
//! (WAN) around a router namespace configured by `router-agent apply --netns`. Every test
//! builds its own four namespaces (deleted on drop) and checks what gets through, what is
//! dropped or rejected, NAT as the far end sees it, and the rule counters.
//!
//! ```text
//!  client 192.168.1.10 ── lan0 [router] wan0 ── 203.0.113.2 server
//!                   192.168.1.1   │   203.0.113.1
//!                              mgmt0 10.99.0.1
//!                                 │
//!                          mgmt host 10.99.0.10
//! ```
//!
//! Timeouts only bound waits; nothing asserts on elapsed time. A dropped connection is told
//! from a rejected one by the error `nc` reports ("timed out" versus "refused").

mod support;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{run, stderr, Netns};

const CLIENT: &str = "192.168.1.10";
const ROUTER_LAN: &str = "192.168.1.1";
const ROUTER_WAN: &str = "203.0.113.1";
const SERVER: &str = "203.0.113.2";
const ROUTER_MGMT: &str = "10.99.0.1";
const MGMT_HOST: &str = "10.99.0.10";

/// The router's interfaces: veths whose other ends are in the neighbours' namespaces, so the
/// router sees them as NICs (as in `make demo`) and the config names them `physical`.
const INTERFACES: &str = r#"version = 1

[sysctl]
ipv4_forwarding = true

[[interface]]
name = "lan0"
kind = "physical"
addresses = ["192.168.1.1/24"]

[[interface]]
name = "wan0"
kind = "physical"
addresses = ["203.0.113.1/24"]

[[interface]]
name = "mgmt0"
kind = "physical"
addresses = ["10.99.0.1/24"]
"#;

/// Default drop on input and forward; LAN to WAN allowed and masqueraded except two ports,
/// one rejected, one dropped; SSH to the router from the management zone only; a port
/// forward from the WAN (8080) to the client's port 80.
const FIREWALL: &str = r#"
[firewall]
input = "drop"
forward = "drop"

[firewall.zone.lan]
interfaces = ["lan0"]
[firewall.zone.wan]
interfaces = ["wan0"]
[firewall.zone.mgmt]
interfaces = ["mgmt0"]

[firewall.set.blocked_ports]
type = "port"
elements = """
7002
7100-7199
"""

[[firewall.rule]]
chain = "input"
state = ["established", "related"]
action = "accept"

[[firewall.rule]]
chain = "input"
in_zone = "mgmt"
protocol = "tcp"
dport = 22
counter = true
action = "accept"
comment = "ssh from mgmt"

[[firewall.rule]]
chain = "input"
protocol = "tcp"
dport = 22
counter = true
action = "drop"
comment = "ssh from elsewhere"

[[firewall.rule]]
chain = "input"
protocol = "icmp"
icmp_type = "echo-request"
counter = true
action = "accept"
comment = "ping"

[[firewall.rule]]
chain = "forward"
state = ["established", "related"]
action = "accept"

[[firewall.rule]]
chain = "forward"
in_zone = "lan"
out_zone = "wan"
protocol = "tcp"
dport = 7001
counter = true
action = "reject"
reject_with = "tcp-reset"
comment = "rejected port"

[[firewall.rule]]
chain = "forward"
in_zone = "lan"
out_zone = "wan"
protocol = "tcp"
dport = "@blocked_ports"
counter = true
action = "drop"
comment = "dropped ports"

[[firewall.rule]]
chain = "forward"
in_zone = "lan"
out_zone = "wan"
counter = true
action = "accept"
comment = "lan to wan"

[[firewall.rule]]
chain = "forward"
in_zone = "wan"
protocol = "tcp"
dport = 80
destination = "192.168.1.10"
counter = true
action = "accept"
comment = "port forward"

[[firewall.nat]]
action = "masquerade"
out_zone = "wan"

[[firewall.nat]]
action = "dnat"
in_zone = "wan"
protocol = "tcp"
dport = 8080
to = "192.168.1.10:80"
"#;

/// Fails loudly when a tool the tests drive is missing, rather than skipping.
fn require_tools() {
    for (tool, arg) in [
        ("nft", "--version"),
        ("nc", "-h"),
        ("ping", "-V"),
        ("ss", "-V"),
    ] {
        if let Err(e) = Command::new(tool).arg(arg).output() {
            panic!("firewall packet tests need `{tool}` (nftables, netcat-openbsd, iputils-ping, iproute2): {e}");
        }
    }
}

/// Client, router, server and management host, wired and addressed; the router is not
/// configured until [`Lab::apply`].
struct Lab {
    router: Netns,
    client: Netns,
    server: Netns,
    mgmt: Netns,
}

impl Lab {
    fn new() -> Lab {
        require_tools();
        let lab = Lab {
            router: Netns::new("fwp-r"),
            client: Netns::new("fwp-c"),
            server: Netns::new("fwp-s"),
            mgmt: Netns::new("fwp-m"),
        };
        for (side, peer) in [
            ("lan0", &lab.client),
            ("wan0", &lab.server),
            ("mgmt0", &lab.mgmt),
        ] {
            run(
                "ip",
                &[
                    "link",
                    "add",
                    side,
                    "netns",
                    &lab.router.name,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    &peer.name,
                ],
            );
            peer.ip(&["link", "set", "eth0", "up"]);
        }
        lab.client.sh("addr add 192.168.1.10/24 dev eth0");
        lab.client.sh("route add default via 192.168.1.1");
        lab.mgmt.sh("addr add 10.99.0.10/24 dev eth0");
        lab.mgmt.sh("route add default via 10.99.0.1");
        // The server knows only its own subnet: LAN traffic reaches it masqueraded or not at all.
        lab.server.sh("addr add 203.0.113.2/24 dev eth0");
        lab
    }

    /// Applies the interfaces plus `firewall` to the router.
    fn apply(&self, firewall: &str) {
        let file = std::env::temp_dir().join(format!("{}.toml", self.router.name));
        std::fs::write(&file, format!("{INTERFACES}{firewall}")).expect("write the config");
        let out = self.router.agent("apply", file.to_str());
        let _ = std::fs::remove_file(&file);
        assert!(
            out.status.success(),
            "router-agent apply failed: {}",
            stderr(&out)
        );
    }

    /// The `packets` of the counter of the rule carrying `comment`, from `nft -j`.
    fn counter(&self, comment: &str) -> u64 {
        let out = run(
            "ip",
            &[
                "netns",
                "exec",
                &self.router.name,
                "nft",
                "-j",
                "list",
                "table",
                "inet",
                "router_agent",
            ],
        );
        let json: Value = serde_json::from_slice(&out.stdout).expect("nft -j output is JSON");
        let rules: Vec<&Value> = json["nftables"]
            .as_array()
            .expect("nftables array")
            .iter()
            .filter_map(|o| o.get("rule"))
            .filter(|r| r["comment"] == comment)
            .collect();
        assert_eq!(rules.len(), 1, "one rule commented {comment:?}: {json}");
        rules[0]["expr"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|e| e.get("counter"))
            .and_then(|c| c["packets"].as_u64())
            .unwrap_or_else(|| panic!("rule {comment:?} has no counter: {}", rules[0]))
    }
}

/// `nc -l` on a TCP port in a namespace, accepting any number of connections; reports the
/// peers it saw when finished.
struct Listener {
    child: Option<Child>,
}

impl Listener {
    fn new(ns: &Netns, port: u16) -> Listener {
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "nc", "-lnkv", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nc -l");
        let listener = Listener { child: Some(child) };
        // Bounded wait until the socket listens.
        let filter = format!("sport = :{port}");
        for _ in 0..100 {
            let out = run("ip", &["netns", "exec", &ns.name, "ss", "-Htln", &filter]);
            if !out.stdout.is_empty() {
                return listener;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nc -l {port} in {} never listened", ns.name);
    }

    /// Stops the listener; returns the addresses of the peers it accepted, in order.
    fn peers(mut self) -> Vec<String> {
        let mut child = self.child.take().expect("listener still running");
        // nc logs an accepted connection just after accepting it; let it write that line.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = child.kill();
        let _ = child.wait();
        let mut text = String::new();
        child
            .stderr
            .take()
            .expect("piped stderr")
            .read_to_string(&mut text)
            .expect("read nc's stderr");
        // netcat-openbsd: "Connection received on ADDR PORT".
        text.lines()
            .filter_map(|l| l.strip_prefix("Connection received on "))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// How a TCP connection attempt ended.
#[derive(Debug, PartialEq)]
enum Tcp {
    Connected,
    Refused,
    TimedOut,
}

/// `nc -z` from a namespace, waiting at most `wait` seconds.
fn connect(ns: &Netns, addr: &str, port: u16, wait: u32) -> Tcp {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "nc", "-znv", "-w"])
        .arg(wait.to_string())
        .arg(addr)
        .arg(port.to_string())
        .output()
        .expect("run nc -z");
    let err = stderr(&out);
    if out.status.success() {
        Tcp::Connected
    } else if err.contains("refused") {
        Tcp::Refused
    } else if err.contains("timed out") {
        Tcp::TimedOut
    } else {
        panic!(
            "nc -z {addr} {port} from {}: unexpected failure: {err}",
            ns.name
        )
    }
}

fn ping(ns: &Netns, addr: &str, count: u32) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", &ns.name, "ping", "-n", "-q", "-W", "2", "-c",
        ])
        .arg(count.to_string())
        .arg(addr)
        .output()
        .expect("run ping")
        .status
        .success()
}

#[test]
fn allowed_traffic_passes_and_blocked_traffic_is_dropped_or_rejected() {
    let lab = Lab::new();
    lab.apply(FIREWALL);

    // Allowed: ping to the router and through it, TCP from LAN to WAN.
    assert!(
        ping(&lab.client, ROUTER_LAN, 1),
        "LAN cannot ping the router"
    );
    assert!(
        ping(&lab.client, SERVER, 1),
        "LAN cannot ping the WAN server"
    );
    let open = Listener::new(&lab.server, 7000);
    assert_eq!(connect(&lab.client, SERVER, 7000, 5), Tcp::Connected);
    assert_eq!(open.peers().len(), 1);

    // Rejected with a TCP reset: refused, although the server listens.
    let rejected = Listener::new(&lab.server, 7001);
    assert_eq!(connect(&lab.client, SERVER, 7001, 5), Tcp::Refused);
    assert_eq!(rejected.peers(), Vec::<String>::new());
    assert!(lab.counter("rejected port") >= 1);

    // Dropped through the port set (a single port and a range): no answer at all.
    for port in [7002, 7150] {
        let dropped = Listener::new(&lab.server, port);
        assert_eq!(connect(&lab.client, SERVER, port, 2), Tcp::TimedOut);
        assert_eq!(dropped.peers(), Vec::<String>::new(), "port {port}");
    }
    assert!(lab.counter("dropped ports") >= 2);
    // Ports next to the set's are not in it.
    let beside = Listener::new(&lab.server, 7200);
    assert_eq!(connect(&lab.client, SERVER, 7200, 5), Tcp::Connected);
    assert_eq!(beside.peers().len(), 1);

    // The WAN cannot open connections into the LAN (forward policy drop), even routed
    // there, except to the forwarded port.
    lab.server.sh("route add 192.168.1.0/24 via 203.0.113.1");
    let inside = Listener::new(&lab.client, 5000);
    assert_eq!(connect(&lab.server, CLIENT, 5000, 2), Tcp::TimedOut);
    assert_eq!(inside.peers(), Vec::<String>::new());
    // Nor reach the router's services (input policy drop), though it answers pings.
    let on_router = Listener::new(&lab.router, 5001);
    assert_eq!(connect(&lab.server, ROUTER_WAN, 5001, 2), Tcp::TimedOut);
    assert_eq!(connect(&lab.client, ROUTER_LAN, 5001, 2), Tcp::TimedOut);
    assert_eq!(on_router.peers(), Vec::<String>::new());
    assert!(
        ping(&lab.server, ROUTER_WAN, 1),
        "WAN cannot ping the router"
    );
}

#[test]
fn masquerade_shows_the_router_wan_address_to_the_server() {
    let lab = Lab::new();
    lab.apply(FIREWALL);
    let server = Listener::new(&lab.server, 7000);
    for _ in 0..2 {
        assert_eq!(connect(&lab.client, SERVER, 7000, 5), Tcp::Connected);
    }
    assert_eq!(server.peers(), vec![ROUTER_WAN, ROUTER_WAN]);

    // Without the firewall section (its table removed), nothing masquerades: the server has
    // no route back to the LAN, so the connection cannot complete.
    lab.apply("");
    let server = Listener::new(&lab.server, 7000);
    assert_eq!(connect(&lab.client, SERVER, 7000, 2), Tcp::TimedOut);
    assert_eq!(server.peers(), Vec::<String>::new());
}

#[test]
fn dnat_port_forward_from_the_wan_reaches_the_lan_server() {
    let lab = Lab::new();
    lab.apply(FIREWALL);
    let web = Listener::new(&lab.client, 80);
    // WAN -> router:8080 -> client:80, with the original source kept.
    assert_eq!(connect(&lab.server, ROUTER_WAN, 8080, 5), Tcp::Connected);
    assert!(lab.counter("port forward") >= 1);
    // Only 8080 is forwarded: the router's own port 80 is closed to the WAN.
    assert_eq!(connect(&lab.server, ROUTER_WAN, 80, 2), Tcp::TimedOut);
    assert_eq!(web.peers(), vec![SERVER]);
}

#[test]
fn rule_counters_count_the_packets_their_rules_match() {
    let lab = Lab::new();
    lab.apply(FIREWALL);
    for c in ["ping", "lan to wan", "rejected port", "dropped ports"] {
        assert_eq!(lab.counter(c), 0, "{c} before any traffic");
    }

    // Three pings to the router, each a process of its own (a new ICMP id, so a new
    // conntrack entry): three packets on the ping rule. Later echo requests of one ping
    // would be established and accepted by the first rule.
    for _ in 0..3 {
        assert!(ping(&lab.client, ROUTER_LAN, 1));
    }
    assert_eq!(lab.counter("ping"), 3);

    // Only a connection's first packet reaches the "lan to wan" rule (then it is
    // established); so does the first echo request of a ping through the router.
    let server = Listener::new(&lab.server, 7000);
    for _ in 0..4 {
        assert_eq!(connect(&lab.client, SERVER, 7000, 5), Tcp::Connected);
    }
    assert_eq!(server.peers().len(), 4);
    assert_eq!(lab.counter("lan to wan"), 4);
    assert!(ping(&lab.client, SERVER, 2));
    assert_eq!(lab.counter("lan to wan"), 5);
    // Rules that matched nothing still read zero.
    assert_eq!(lab.counter("rejected port"), 0);
    assert_eq!(lab.counter("dropped ports"), 0);

    assert_eq!(connect(&lab.client, SERVER, 7001, 5), Tcp::Refused);
    assert_eq!(lab.counter("rejected port"), 1);

    // Re-applying the unchanged config leaves the counters alone.
    lab.apply(FIREWALL);
    assert_eq!(lab.counter("ping"), 3);
    assert_eq!(lab.counter("lan to wan"), 5);
    assert_eq!(lab.counter("rejected port"), 1);
}

#[test]
fn ssh_is_allowed_from_the_management_zone_only() {
    let lab = Lab::new();
    lab.apply(FIREWALL);
    let sshd = Listener::new(&lab.router, 22);
    assert_eq!(connect(&lab.mgmt, ROUTER_MGMT, 22, 5), Tcp::Connected);
    // The zone is where packets come in, not the address they go to.
    assert_eq!(connect(&lab.mgmt, ROUTER_LAN, 22, 5), Tcp::Connected);
    assert_eq!(lab.counter("ssh from mgmt"), 2);

    assert_eq!(connect(&lab.client, ROUTER_LAN, 22, 2), Tcp::TimedOut);
    assert_eq!(connect(&lab.client, ROUTER_MGMT, 22, 2), Tcp::TimedOut);
    assert_eq!(connect(&lab.server, ROUTER_WAN, 22, 2), Tcp::TimedOut);
    assert!(lab.counter("ssh from elsewhere") >= 3);
    assert_eq!(lab.counter("ssh from mgmt"), 2);
    assert_eq!(sshd.peers(), vec![MGMT_HOST, MGMT_HOST]);
}
