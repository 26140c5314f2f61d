//! Generators of valid configs, for the property tests: the examples and golden cases as
//! they are written, and generated specs rendered to config text valid by construction.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use proptest::prelude::*;

/// Valid configs to mutate: the examples and the golden cases.
pub fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut add_dir = |dir: &Path| {
        let mut files: Vec<_> = fs::read_dir(dir)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for f in files {
            if f.is_dir() {
                for name in ["current.toml", "desired.toml"] {
                    if let Ok(t) = fs::read_to_string(f.join(name)) {
                        out.push(t);
                    }
                }
            } else if f.extension().is_some_and(|x| x == "toml") {
                if let Ok(t) = fs::read_to_string(&f) {
                    out.push(t);
                }
            }
        }
    };
    add_dir(&root.join("../configs"));
    add_dir(&root.join("tests/cases"));
    assert!(out.len() > 10, "too few seed configs");
    out
}

// ---- generated valid configs -------------------------------------------------------

/// What a physical NIC is used for.
#[derive(Debug, Clone, Copy)]
enum Role {
    Addressed,
    BridgePort,
    BondMember,
}

#[derive(Debug, Clone)]
struct Phys {
    role: Role,
    match_mac: bool,
    mtu: Option<u32>,
    description: Option<String>,
    down: bool,
    v6: bool,
}

#[derive(Debug, Clone)]
struct Vlan {
    on_bond: bool,
    parent: usize,
    id: u16,
    qinq: bool,
    mtu: bool,
    in_vrf: bool,
}

#[derive(Debug, Clone)]
struct RouteSpec {
    kind: usize,
    gw_link: usize,
    with_dev: bool,
    metric: Option<u32>,
    table: usize,
    multipath: Option<(u16, u16)>,
    v6: bool,
    src: bool,
}

#[derive(Debug, Clone)]
struct RuleSpec {
    from: Option<u8>,
    fwmark: Option<(u32, Option<u32>)>,
    iif: bool,
    action: usize,
    table: usize,
}

#[derive(Debug, Clone)]
pub struct Spec {
    hostname: Option<String>,
    forwarding: Option<bool>,
    rp_filter: Option<usize>,
    phys: Vec<Phys>,
    bridge: (bool, bool),
    bond: (usize, Option<u32>, Option<bool>, Option<usize>),
    vlans: Vec<Vlan>,
    vrf_table: u32,
    veths: usize,
    dummies: usize,
    macvlan: Option<usize>,
    lo_addr: bool,
    routes: Vec<RouteSpec>,
    blackholes: usize,
    rules: Vec<RuleSpec>,
}

fn phys() -> impl Strategy<Value = Phys> {
    (
        prop_oneof![3 => Just(Role::Addressed), 1 => Just(Role::BridgePort), 1 => Just(Role::BondMember)],
        any::<bool>(),
        prop_oneof![Just(None), Just(Some(1400u32)), Just(Some(9000u32))],
        proptest::option::of("[a-zA-Z0-9 ,.'\"#-]{0,20}"),
        prop::bool::weighted(0.2),
        any::<bool>(),
    )
        .prop_map(|(role, match_mac, mtu, description, down, v6)| Phys {
            role,
            match_mac,
            mtu,
            description,
            down,
            v6,
        })
}

pub fn spec() -> impl Strategy<Value = Spec> {
    let vlan = (
        any::<bool>(),
        0usize..8,
        1u16..=4094,
        prop::bool::weighted(0.2),
        any::<bool>(),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(on_bond, parent, id, qinq, mtu, in_vrf)| Vlan {
            on_bond,
            parent,
            id,
            qinq,
            mtu,
            in_vrf,
        });
    let route = (
        prop_oneof![3 => Just(0usize), 1 => 1usize..5],
        0usize..16,
        any::<bool>(),
        proptest::option::of(prop_oneof![
            Just(0u32),
            Just(10),
            Just(1024),
            Just(4_000_000_000)
        ]),
        0usize..3,
        proptest::option::of((1u16..=256, 1u16..=256)),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(kind, gw_link, with_dev, metric, table, multipath, v6, src)| RouteSpec {
                kind,
                gw_link,
                with_dev,
                metric,
                table,
                multipath,
                v6,
                src,
            },
        );
    let rule = (
        proptest::option::of(any::<u8>()),
        proptest::option::of((any::<u32>(), proptest::option::of(any::<u32>()))),
        any::<bool>(),
        0usize..4,
        0usize..3,
    )
        .prop_map(|(from, fwmark, iif, action, table)| RuleSpec {
            from,
            fwmark,
            iif,
            action,
            table,
        });
    (
        (
            proptest::option::of("[a-z][a-z0-9-]{0,10}[a-z0-9](\\.[a-z]{2,5}){0,2}"),
            proptest::option::of(any::<bool>()),
            proptest::option::of(0usize..3),
            prop::collection::vec(phys(), 1..5),
            (any::<bool>(), any::<bool>()),
            (
                0usize..7,
                proptest::option::of(0u32..1000),
                proptest::option::of(any::<bool>()),
                proptest::option::of(0usize..6),
            ),
        ),
        (
            prop::collection::vec(vlan, 0..4),
            1000u32..2000,
            0usize..3,
            0usize..3,
            proptest::option::of(0usize..8),
            any::<bool>(),
            prop::collection::vec(route, 0..8),
            prop_oneof![Just(0usize), 1usize..8, 8usize..40],
            prop::collection::vec(rule, 0..4),
        ),
    )
        .prop_map(
            |(
                (hostname, forwarding, rp_filter, phys, bridge, bond),
                (vlans, vrf_table, veths, dummies, macvlan, lo_addr, routes, blackholes, rules),
            )| Spec {
                hostname,
                forwarding,
                rp_filter,
                phys,
                bridge,
                bond,
                vlans,
                vrf_table,
                veths,
                dummies,
                macvlan,
                lo_addr,
                routes,
                blackholes,
                rules,
            },
        )
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A link that carries addresses: its name, IPv4 subnet index and whether it has IPv6.
struct Addressed {
    name: String,
    net: usize,
    v6: bool,
}

/// The config text as it grows, and the links given addresses so far (routes use them as
/// gateways).
struct Text {
    t: String,
    addressed: Vec<Addressed>,
}

impl Text {
    /// An `[[interface]]` with `body`, and an IPv4 (and IPv6) subnet of its own when
    /// `addr` names it.
    fn iface(&mut self, body: String, addr: Option<(String, bool)>) {
        let w = &mut self.t;
        w.push_str("[[interface]]\n");
        w.push_str(&body);
        if let Some((name, v6)) = addr {
            let net = self.addressed.len() + 1;
            write!(w, "addresses = [\"10.{net}.0.1/24\"").ok();
            if v6 {
                write!(w, ", \"2001:db8:{net:x}::1/64\"").ok();
            }
            w.push_str("]\n");
            self.addressed.push(Addressed { name, net, v6 });
        }
        w.push('\n');
    }
}

/// The NICs by what they are used for: (bridge ports, bond members, addressed NICs with
/// their MTU, which VLANs and macvlans stack on).
type Nics = (Vec<String>, Vec<String>, Vec<(String, Option<u32>)>);

/// The config text a spec describes; valid by construction.
pub fn config_text(s: &Spec) -> String {
    let mut w = Text {
        t: String::from("version = 1\n"),
        addressed: Vec::new(),
    };
    globals(&mut w.t, s);
    let (ports, members, parents) = nics(&mut w, s);
    bridge(&mut w, s, ports);
    let has_bond = bond(&mut w, s, members);
    stacked(&mut w, s, &parents, has_bond);
    routes(&mut w, s);
    rules(&mut w.t, s);
    w.t
}

fn globals(w: &mut String, s: &Spec) {
    const RP: [&str; 3] = ["off", "strict", "loose"];
    if let Some(h) = &s.hostname {
        writeln!(w, "hostname = {}", toml_str(h)).ok();
    }
    writeln!(w, "\n[sysctl]").ok();
    if let Some(f) = s.forwarding {
        writeln!(w, "ipv4_forwarding = {f}\nipv6_forwarding = {}", !f).ok();
    }
    if let Some(r) = s.rp_filter {
        writeln!(w, "rp_filter = \"{}\"", RP[r]).ok();
    }
    writeln!(w, "\n[tables]\nisp = 100\nvrf-t = {}\n", s.vrf_table).ok();
}

/// The loopback's addresses, then the NICs.
fn nics(w: &mut Text, s: &Spec) -> Nics {
    if s.lo_addr {
        w.t.push_str("[[interface]]\n");
        w.t.push_str("name = \"lo\"\nkind = \"loopback\"\n");
        w.t.push_str("addresses = [\"10.255.0.1/32\", \"2001:db8:ffff::1/128\"]\n\n");
    }
    let mut ports = Vec::new();
    let mut members = Vec::new();
    let mut parents = Vec::new();
    for (i, p) in s.phys.iter().enumerate() {
        let name = format!("eth{i}");
        let mut b = format!("name = \"{name}\"\nkind = \"physical\"\n");
        if p.match_mac {
            writeln!(b, "physical = {{ match_mac = \"52:54:00:00:00:{i:02x}\" }}").ok();
        }
        if let Some(m) = p.mtu {
            writeln!(b, "mtu = {m}").ok();
        }
        if let Some(d) = &p.description {
            writeln!(b, "description = {}", toml_str(d)).ok();
        }
        if p.down {
            b.push_str("state = \"down\"\n");
        }
        match p.role {
            Role::Addressed => {
                parents.push((name.clone(), p.mtu));
                w.iface(b, Some((name, p.v6)));
            }
            Role::BridgePort => {
                ports.push(name);
                w.iface(b, None);
            }
            Role::BondMember => {
                members.push(name);
                w.iface(b, None);
            }
        }
    }
    (ports, members, parents)
}

/// The bridge, when it has ports.
fn bridge(w: &mut Text, s: &Spec, ports: Vec<String>) {
    if ports.is_empty() {
        return;
    }
    let mut b = format!(
        "name = \"br0\"\nkind = \"bridge\"\nbridge = {{ ports = {:?}",
        ports
    );
    if s.bridge.0 {
        b.push_str(", stp = true");
    }
    if s.bridge.1 {
        b.push_str(", vlan_filtering = true");
    }
    b.push_str(" }\n");
    w.iface(b, Some(("br0".into(), true)));
}

/// The bond, when it has members; whether there is one.
fn bond(w: &mut Text, s: &Spec, members: Vec<String>) -> bool {
    const BOND_MODES: [&str; 7] = [
        "balance-rr",
        "active-backup",
        "balance-xor",
        "broadcast",
        "802.3ad",
        "balance-tlb",
        "balance-alb",
    ];
    const HASH: [&str; 6] = [
        "layer2",
        "layer3+4",
        "layer2+3",
        "encap2+3",
        "encap3+4",
        "vlan+srcmac",
    ];
    if members.is_empty() {
        return false;
    }
    let (mode, miimon, lacp, hash) = s.bond;
    let mut b = format!(
        "name = \"bond0\"\nkind = \"bond\"\nbond = {{ mode = \"{}\", members = {:?}",
        BOND_MODES[mode], members
    );
    if let Some(m) = miimon {
        write!(b, ", miimon = {m}").ok();
    }
    // The LACP rate is an 802.3ad option: other modes refuse it.
    if let Some(l) = lacp.filter(|_| BOND_MODES[mode] == "802.3ad") {
        write!(b, ", lacp_rate = \"{}\"", if l { "fast" } else { "slow" }).ok();
    }
    if let Some(h) = hash {
        write!(b, ", xmit_hash_policy = \"{}\"", HASH[h]).ok();
    }
    b.push_str(" }\n");
    w.iface(b, Some(("bond0".into(), false)));
    true
}

/// VLANs (on the bond or an addressed NIC), the VRF, veths, dummies and the macvlan.
fn stacked(w: &mut Text, s: &Spec, parents: &[(String, Option<u32>)], has_bond: bool) {
    let mut used_ids = std::collections::BTreeSet::new();
    let mut vrf_members = Vec::new();
    for (i, v) in s.vlans.iter().enumerate() {
        let (parent, parent_mtu) = if v.on_bond && has_bond {
            ("bond0".to_owned(), None)
        } else if !parents.is_empty() {
            parents[v.parent % parents.len()].clone()
        } else {
            continue;
        };
        if !used_ids.insert((parent.clone(), v.id)) {
            continue;
        }
        let name = format!("vl{i}");
        let mut b = format!(
            "name = \"{name}\"\nkind = \"vlan\"\nvlan = {{ parent = \"{parent}\", id = {}",
            v.id
        );
        if v.qinq {
            b.push_str(", protocol = \"802.1ad\"");
        }
        b.push_str(" }\n");
        // Below any parent MTU, so never the inherited default that render leaves out.
        if v.mtu && parent_mtu != Some(1280) {
            b.push_str("mtu = 1280\n");
        }
        if v.in_vrf {
            vrf_members.push(name.clone());
        }
        w.iface(b, Some((name, v.id % 2 == 0)));
    }
    if !vrf_members.is_empty() {
        let b = format!("name = \"vrf0\"\nkind = \"vrf\"\nvrf = {{ table = \"vrf-t\", members = {vrf_members:?} }}\n");
        w.iface(b, None);
    }
    for i in 0..s.veths {
        let b = format!("name = \"va{i}\"\nkind = \"veth\"\nveth = {{ peer = \"vb{i}\" }}\n");
        w.iface(b, Some((format!("va{i}"), i == 0)));
        let b = format!(
            "name = \"vb{i}\"\nkind = \"veth\"\nveth = {{ peer = \"va{i}\" }}\nstate = \"down\"\n"
        );
        w.iface(b, None);
    }
    for i in 0..s.dummies {
        let b = format!("name = \"dum{i}\"\nkind = \"dummy\"\n");
        w.iface(b, Some((format!("dum{i}"), true)));
    }
    if let (Some(m), false) = (s.macvlan, parents.is_empty()) {
        let (parent, _) = &parents[m % parents.len()];
        let modes = ["private", "vepa", "bridge", "passthru", "source"];
        let b = format!("name = \"mv0\"\nkind = \"macvlan\"\nmacvlan = {{ parent = \"{parent}\", mode = \"{}\" }}\n", modes[m % 5]);
        w.iface(b, Some(("mv0".into(), false)));
    }
}

/// Routes: destinations are distinct by construction (one /24 or /48 per route index).
fn routes(text: &mut Text, s: &Spec) {
    let (w, addressed) = (&mut text.t, &text.addressed);
    let tables = ["main", "isp", "77"];
    for (i, r) in s.routes.iter().enumerate() {
        let dst = if r.v6 {
            format!("2001:db8:{:x}::/48", 0x100 + i)
        } else {
            format!("172.{}.{i}.0/24", 16 + r.table)
        };
        w.push_str("[[route]]\n");
        writeln!(w, "to = \"{dst}\"").ok();
        if let Some(m) = r.metric {
            writeln!(w, "metric = {m}").ok();
        }
        if r.table != 0 {
            let t = tables[r.table];
            let t = if t.parse::<u32>().is_ok() {
                t.to_owned()
            } else {
                format!("\"{t}\"")
            };
            writeln!(w, "table = {t}").ok();
        }
        let kinds = ["unicast", "blackhole", "unreachable", "prohibit", "throw"];
        let candidates: Vec<&Addressed> = addressed.iter().filter(|a| !r.v6 || a.v6).collect();
        if r.kind != 0 || candidates.is_empty() {
            writeln!(w, "type = \"{}\"\n", kinds[r.kind.max(1)]).ok();
            continue;
        }
        gateway(w, r, &candidates);
        w.push('\n');
    }
    if s.blackholes > 0 {
        let list: Vec<String> = (0..s.blackholes)
            .map(|i| format!("\"198.18.{i}.0/24\""))
            .collect();
        writeln!(
            w,
            "[[route]]\ntype = \"blackhole\"\nprefixes = [{}]\n",
            list.join(", ")
        )
        .ok();
    }
}

/// A unicast route's gateway (or two), on links with addresses of its family.
fn gateway(w: &mut String, r: &RouteSpec, candidates: &[&Addressed]) {
    let gw = |a: &Addressed, host: u32| -> String {
        if r.v6 {
            format!("2001:db8:{:x}::{host:x}", a.net)
        } else {
            format!("10.{}.0.{host}", a.net)
        }
    };
    let a = candidates[r.gw_link % candidates.len()];
    match r.multipath {
        Some((w1, w2)) => {
            let b = candidates[(r.gw_link + 1) % candidates.len()];
            writeln!(
                w,
                "nexthops = [\n  {{ via = \"{}\", dev = \"{}\", weight = {w1} }},\n  {{ via = \"{}\", dev = \"{}\", weight = {w2} }},\n]",
                gw(a, 254),
                a.name,
                gw(b, 253),
                b.name
            )
            .ok();
        }
        None => {
            writeln!(w, "via = \"{}\"", gw(a, 254)).ok();
            if r.with_dev {
                writeln!(w, "dev = \"{}\"", a.name).ok();
            }
            if r.src {
                writeln!(w, "src = \"{}\"", gw(a, 1)).ok();
            }
        }
    }
}

fn rules(w: &mut String, s: &Spec) {
    let actions = ["lookup", "blackhole", "unreachable", "prohibit"];
    for (i, r) in s.rules.iter().enumerate() {
        writeln!(w, "[[rule]]\npriority = {}", 100 + i).ok();
        match r.from {
            Some(n) => writeln!(w, "from = \"10.{n}.0.0/16\"").ok(),
            None => writeln!(w, "family = \"ipv4\"").ok(),
        };
        if let Some((v, m)) = r.fwmark {
            match m {
                Some(m) => writeln!(w, "fwmark = \"{v:#x}/{m:#x}\"").ok(),
                None => writeln!(w, "fwmark = {v}").ok(),
            };
        }
        if r.iif {
            writeln!(w, "iif = \"eth0\"").ok();
        }
        if r.action == 0 {
            writeln!(w, "table = {}", ["\"main\"", "\"isp\"", "4242"][r.table]).ok();
        } else {
            writeln!(w, "action = \"{}\"", actions[r.action]).ok();
        }
        w.push('\n');
    }
}
