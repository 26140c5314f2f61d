//! Interfaces: the kind and its options, membership (bridge ports, bond and VRF members),
//! references (parents, veth peers), addresses and dependency cycles.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;

use super::{at, key, resolve_table, Checker};
use crate::error::Seg;
use crate::interface::{BondMode, InterfaceConfig, InterfaceKind};
use crate::state::{default_mtu, Link, LinkKind};
use crate::types::{IfName, TableRef};
use crate::wireguard::WireguardOpts;
use crate::Config;

impl Config {
    pub(super) fn check_interfaces(
        &self,
        ck: &mut Checker,
        tables: &BTreeMap<String, u32>,
    ) -> BTreeMap<IfName, Link> {
        let mut links: BTreeMap<IfName, Link> = BTreeMap::new();
        let mut paths: HashMap<IfName, Vec<Seg>> = HashMap::new();
        let mut macs = HashMap::new();
        for (i, cfg) in self.interfaces.iter().enumerate() {
            let path = vec![key("interface"), Seg::Index(i)];
            let Some(kind) = check_kind(ck, &path, cfg, tables) else {
                continue;
            };
            if let LinkKind::Physical { match_mac: Some(m) } = &kind {
                if let Some(prev) = macs.insert(*m, cfg.name.clone()) {
                    ck.report(
                        &at(&path, &["physical", "match_mac"]),
                        format!("MAC {m} already matches interface {prev}"),
                    );
                }
            }
            if let Some(mac) = cfg.mac {
                if mac.0[0] & 1 == 1 || mac.0 == [0; 6] {
                    ck.report(
                        &at(&path, &["mac"]),
                        format!("{mac} is not a unicast MAC address"),
                    );
                }
            }
            let mut link = Link::new(cfg.name.clone(), kind);
            link.state = cfg.state;
            link.mtu = cfg.mtu.map(|m| m.get());
            link.mac = cfg.mac;
            link.description = cfg.description.clone();
            link.addresses = cfg.addresses.clone();
            link.addresses.sort();
            if links.insert(cfg.name.clone(), link).is_some() {
                ck.report(
                    &at(&path, &["name"]),
                    format!("interface {} is declared twice", cfg.name),
                );
            } else {
                paths.insert(cfg.name.clone(), path);
            }
        }
        check_membership(ck, self, &mut links, &paths);
        check_references(ck, &links, &paths);
        check_addresses(ck, self, &links);
        check_cycles(ck, &links, &paths);
        fill_default_mtus(&mut links);
        links
    }
}

/// The option tables an interface entry has.
fn options_given(cfg: &InterfaceConfig) -> impl Iterator<Item = &'static str> {
    [
        ("physical", cfg.physical.is_some()),
        ("bridge", cfg.bridge.is_some()),
        ("vlan", cfg.vlan.is_some()),
        ("bond", cfg.bond.is_some()),
        ("vrf", cfg.vrf.is_some()),
        ("veth", cfg.veth.is_some()),
        ("macvlan", cfg.macvlan.is_some()),
        ("wireguard", cfg.wireguard.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
}

/// The link kind with its options, checking that the options table matches `kind`.
fn check_kind(
    ck: &mut Checker,
    path: &[Seg],
    cfg: &InterfaceConfig,
    tables: &BTreeMap<String, u32>,
) -> Option<LinkKind> {
    let kind = cfg.kind.as_str();
    if let Some(other) = options_given(cfg).find(|k| *k != kind) {
        ck.report(
            &at(path, &[other]),
            format!("`{other}` options given, but this interface has kind = \"{kind}\""),
        );
        return None;
    }
    let missing = |ck: &mut Checker, what: &str| {
        ck.report(path, format!("kind = \"{kind}\" needs its options: {what}"));
        None
    };
    Some(match cfg.kind {
        InterfaceKind::Loopback => {
            if cfg.name.as_str() != "lo" {
                ck.report(
                    &at(path, &["name"]),
                    "the loopback interface is named \"lo\"",
                );
                return None;
            }
            LinkKind::Loopback
        }
        InterfaceKind::Physical => LinkKind::Physical {
            match_mac: cfg.physical.as_ref().and_then(|p| p.match_mac),
        },
        InterfaceKind::Bridge => {
            let b = cfg.bridge.clone().unwrap_or_default();
            LinkKind::Bridge {
                stp: b.stp,
                vlan_filtering: b.vlan_filtering,
            }
        }
        InterfaceKind::Vlan => match &cfg.vlan {
            Some(v) => LinkKind::Vlan {
                parent: v.parent.clone(),
                id: v.id,
                protocol: v.protocol,
            },
            None => return missing(ck, "vlan = { parent = \"eth0\", id = 100 }"),
        },
        InterfaceKind::Bond => match &cfg.bond {
            Some(b) if b.lacp_rate.is_some() && b.mode != BondMode::Lacp => {
                ck.report(
                    &at(path, &["bond", "lacp_rate"]),
                    "lacp_rate applies to mode = \"802.3ad\" only (the kernel refuses it in other modes)",
                );
                return None;
            }
            Some(b) => LinkKind::Bond {
                mode: b.mode,
                miimon: b.miimon,
                lacp_rate: b.lacp_rate,
                xmit_hash_policy: b.xmit_hash_policy,
            },
            None => {
                return missing(
                    ck,
                    "bond = { mode = \"802.3ad\", members = [\"eth0\", \"eth1\"] }",
                )
            }
        },
        InterfaceKind::Dummy => LinkKind::Dummy,
        InterfaceKind::Vrf => match &cfg.vrf {
            Some(v) => {
                let table = resolve_table(ck, &at(path, &["vrf", "table"]), &v.table, tables)?;
                if [TableRef::MAIN, TableRef::LOCAL, TableRef::DEFAULT].contains(&table) {
                    ck.report(
                        &at(path, &["vrf", "table"]),
                        "a VRF needs a table of its own, not main, local or default",
                    );
                    return None;
                }
                LinkKind::Vrf { table }
            }
            None => return missing(ck, "vrf = { table = 100, members = [\"eth1\"] }"),
        },
        InterfaceKind::Veth => match &cfg.veth {
            Some(v) => LinkKind::Veth {
                peer: v.peer.clone(),
            },
            None => return missing(ck, "veth = { peer = \"veth1\" }"),
        },
        InterfaceKind::Macvlan => match &cfg.macvlan {
            Some(m) => LinkKind::Macvlan {
                parent: m.parent.clone(),
                mode: m.mode,
            },
            None => return missing(ck, "macvlan = { parent = \"eth0\" }"),
        },
        InterfaceKind::Wireguard => {
            if cfg.mac.is_some() {
                ck.report(
                    &at(path, &["mac"]),
                    "a WireGuard interface has no MAC address (it carries IP packets only)",
                );
                return None;
            }
            let wg = cfg.wireguard.clone().unwrap_or_default();
            check_wireguard(ck, &at(path, &["wireguard"]), &wg)?;
            LinkKind::Wireguard(Box::new(wg.normalized()))
        }
    })
}

/// Peers: each public key once, allowed IPs without host bits and at one peer only (the
/// kernel would silently move a prefix to the last peer naming it).
fn check_wireguard(ck: &mut Checker, path: &[Seg], wg: &WireguardOpts) -> Option<()> {
    let mut ok = true;
    if wg.listen_port == Some(0) {
        ck.report(
            &at(path, &["listen_port"]),
            "listen_port 0 means a random port: leave listen_port out instead",
        );
        ok = false;
    }
    let mut keys = HashMap::new();
    let mut owners: HashMap<IpNet, usize> = HashMap::new();
    for (j, p) in wg.peers.iter().enumerate() {
        let mut here = path.to_vec();
        here.extend([key("peer"), Seg::Index(j)]);
        if let Some(prev) = keys.insert(p.public_key, j) {
            ck.report(
                &at(&here, &["public_key"]),
                format!("peer {} is already declared (peer {prev})", p.public_key),
            );
            ok = false;
        }
        for ip in &p.allowed_ips {
            if ip.trunc() != *ip {
                ck.report(
                    &at(&here, &["allowed_ips"]),
                    format!("{ip} has host bits set; write {}", ip.trunc()),
                );
                ok = false;
            } else if let Some(prev) = owners.insert(*ip, j) {
                if prev != j {
                    ck.report(
                        &at(&here, &["allowed_ips"]),
                        format!("{ip} is already allowed for peer {prev}; a prefix routes to one peer only"),
                    );
                    ok = false;
                }
            }
        }
    }
    ok.then_some(())
}

/// Sets `master` on every bridge port, bond member and VRF member; each has at most one.
fn check_membership(
    ck: &mut Checker,
    cfg: &Config,
    links: &mut BTreeMap<IfName, Link>,
    paths: &HashMap<IfName, Vec<Seg>>,
) {
    for icfg in &cfg.interfaces {
        let Some(path) = paths.get(&icfg.name) else {
            continue;
        };
        let (field, list): (&[&str], &[IfName]) = match (&icfg.bridge, &icfg.bond, &icfg.vrf) {
            (Some(b), _, _) => (&["bridge", "ports"], &b.ports),
            (_, Some(b), _) => (&["bond", "members"], &b.members),
            (_, _, Some(v)) => (&["vrf", "members"], &v.members),
            _ => continue,
        };
        let mut lpath = at(path, field);
        for (j, member) in list.iter().enumerate() {
            lpath.push(Seg::Index(j));
            let master_kind = icfg.kind.as_str();
            match links.get_mut(member) {
                None => ck.report(&lpath, format!("unknown interface {member}; declare it as an [[interface]]")),
                Some(m) if m.name == icfg.name => ck.report(&lpath, format!("{member} cannot be a member of itself")),
                Some(m) if m.master.is_some() => ck.report(
                    &lpath,
                    format!("{member} is already a member of {}", m.master.as_ref().map_or("", |x| x.as_str())),
                ),
                Some(m) if matches!(m.kind, LinkKind::Loopback | LinkKind::Vrf { .. }) => {
                    ck.report(&lpath, format!("a {} cannot be a member of a {master_kind}", m.kind.name()))
                }
                Some(m) if icfg.bond.is_some() && !matches!(m.kind, LinkKind::Physical { .. } | LinkKind::Veth { .. } | LinkKind::Dummy) => {
                    ck.report(&lpath, format!("a {} cannot be a bond member; use physical, veth or dummy interfaces", m.kind.name()))
                }
                Some(m) if icfg.vrf.is_none() && !m.addresses.is_empty() => ck.report(
                    &lpath,
                    format!("{member} has addresses but is a {master_kind} member; put the addresses on {}", icfg.name),
                ),
                Some(m) => m.master = Some(icfg.name.clone()),
            }
            lpath.pop();
        }
    }
}

/// Parents and veth peers must exist and agree; VRF tables must be distinct.
fn check_references(
    ck: &mut Checker,
    links: &BTreeMap<IfName, Link>,
    paths: &HashMap<IfName, Vec<Seg>>,
) {
    let mut vrf_tables = HashMap::new();
    for link in links.values() {
        let path = &paths[&link.name];
        match &link.kind {
            LinkKind::Vlan { parent, .. } | LinkKind::Macvlan { parent, .. } => {
                let field = if matches!(link.kind, LinkKind::Vlan { .. }) {
                    "vlan"
                } else {
                    "macvlan"
                };
                match links.get(parent) {
                    None => ck.report(
                        &at(path, &[field, "parent"]),
                        format!(
                            "unknown parent interface {parent}; declare it as an [[interface]]"
                        ),
                    ),
                    Some(p) if matches!(p.kind, LinkKind::Loopback | LinkKind::Vrf { .. }) => ck
                        .report(
                            &at(path, &[field, "parent"]),
                            format!("a {} cannot be the parent of a {field}", p.kind.name()),
                        ),
                    Some(p) => {
                        if let (Some(m), Some(pm)) = (link.mtu, p.mtu) {
                            if m > pm {
                                ck.report(
                                    &at(path, &["mtu"]),
                                    format!(
                                        "MTU {m} is larger than the MTU {pm} of parent {parent}"
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            LinkKind::Veth { peer } => match links.get(peer) {
                _ if *peer == link.name => ck.report(
                    &at(path, &["veth", "peer"]),
                    "a veth cannot be its own peer",
                ),
                Some(p) => match &p.kind {
                    LinkKind::Veth { peer: back } if *back == link.name => {}
                    _ => ck.report(
                        &at(path, &["veth", "peer"]),
                        format!("peer {peer} must be a veth whose peer is {}", link.name),
                    ),
                },
                None => ck.report(
                    &at(path, &["veth", "peer"]),
                    format!(
                        "peer {peer} must also be declared, as kind = \"veth\" with peer = \"{}\"",
                        link.name
                    ),
                ),
            },
            LinkKind::Vrf { table } => {
                if let Some(other) = vrf_tables.insert(*table, &link.name) {
                    ck.report(
                        &at(path, &["vrf", "table"]),
                        format!("table {table} is already used by VRF {other}"),
                    );
                }
            }
            _ => {}
        }
    }
}

fn check_addresses(ck: &mut Checker, cfg: &Config, links: &BTreeMap<IfName, Link>) {
    let mut owner: HashMap<IpAddr, &IfName> = HashMap::new();
    for (i, icfg) in cfg.interfaces.iter().enumerate() {
        if !links.contains_key(&icfg.name) {
            continue;
        }
        for (j, a) in icfg.addresses.iter().enumerate() {
            let path = [
                key("interface"),
                Seg::Index(i),
                key("addresses"),
                Seg::Index(j),
            ];
            match owner.insert(a.addr(), &icfg.name) {
                Some(prev) if *prev == icfg.name => {
                    ck.report(&path, format!("address {} is listed twice", a.addr()))
                }
                Some(prev) => {
                    ck.report(&path, format!("address {} is already on {prev}", a.addr()))
                }
                None => {}
            }
        }
    }
}

/// An omitted MTU is the kind's default ([`default_mtu`]), except on a bridge, whose MTU
/// the kernel keeps following its ports as long as nobody sets it.
fn fill_default_mtus(links: &mut BTreeMap<IfName, Link>) {
    let defaults: Vec<(IfName, u32)> = links
        .values()
        .filter(|l| l.mtu.is_none() && !matches!(l.kind, LinkKind::Bridge { .. }))
        .map(|l| (l.name.clone(), default_mtu(links, l)))
        .collect();
    for (name, mtu) in defaults {
        if let Some(l) = links.get_mut(&name) {
            l.mtu = Some(mtu);
        }
    }
}

/// A link must not depend on itself through parents and masters.
fn check_cycles(
    ck: &mut Checker,
    links: &BTreeMap<IfName, Link>,
    paths: &HashMap<IfName, Vec<Seg>>,
) {
    let deps = |l: &Link| -> Vec<IfName> {
        l.parent()
            .into_iter()
            .chain(l.master.as_ref())
            .cloned()
            .collect()
    };
    let mut done: BTreeSet<IfName> = BTreeSet::new();
    for start in links.keys() {
        let mut chain: Vec<IfName> = Vec::new();
        let mut stack = vec![(start.clone(), 0usize)];
        while let Some((name, depth)) = stack.pop() {
            chain.truncate(depth);
            if done.contains(&name) {
                continue;
            }
            if chain.contains(&name) {
                let mut cycle: Vec<String> = chain.iter().map(|n| n.to_string()).collect();
                cycle.push(name.to_string());
                ck.report(
                    &paths[start],
                    format!("dependency cycle: {}", cycle.join(" -> ")),
                );
                return;
            }
            chain.push(name.clone());
            if let Some(l) = links.get(&name) {
                for d in deps(l) {
                    stack.push((d, depth + 1));
                }
            }
        }
        done.insert(start.clone());
    }
}
