//! Semantic validation: a [`Config`] becomes a [`ValidConfig`] holding the resolved
//! [`NetState`], or a list of every problem found, each at its path in the config.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::error::{Problem, Seg};
use super::interface::{BondMode, InterfaceConfig, InterfaceKind};
use super::route::{Family, RouteConfig, RouteType, RuleAction, RuleConfig};
use super::state::{
    default_metric, default_mtu, FastHash, Link, LinkKind, NetState, NextHop, Route, RouteKey,
    RouteMap, Rule,
};
use super::types::{IfName, TableRef};
use super::wireguard::WireguardOpts;
use super::Config;

/// A config that passed validation, with its resolved state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidConfig {
    pub config: Config,
    pub state: NetState,
    /// None when the config has no `[firewall]`: then the agent's table must not exist.
    pub firewall: Option<super::firewall::Firewall>,
    /// None when the config has no `[bgp]`: then the agent leaves BIRD alone.
    pub bgp: Option<super::bgp::Bgp>,
}

/// Collects problems with the path of the value being checked.
pub(super) struct Checker {
    pub(super) problems: Vec<Problem>,
}

impl Checker {
    pub(super) fn report(&mut self, path: &[Seg], message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_vec(),
            message: message.into(),
        });
    }
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

fn at(base: &[Seg], more: &[&str]) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.extend(more.iter().map(|k| key(k)));
    p
}

impl Config {
    /// Checks everything that types alone cannot and resolves names to numbers.
    pub fn validate(self) -> Result<ValidConfig, Vec<Problem>> {
        let mut ck = Checker {
            problems: Vec::new(),
        };
        if let Some(h) = &self.hostname {
            check_hostname(&mut ck, h);
        }
        let tables = self.check_tables(&mut ck);
        let links = self.check_interfaces(&mut ck, &tables);
        let routes = self.check_routes(&mut ck, &tables, &links);
        let rules = self.check_rules(&mut ck, &tables, &links);
        let firewall = match &self.firewall {
            None => None,
            Some(f) => match f.validate(&[key("firewall")]) {
                Ok(fw) => Some(fw),
                Err(p) => {
                    ck.problems.extend(p);
                    None
                }
            },
        };
        let bgp = self.bgp.as_ref().and_then(|b| {
            b.validate(&[key("bgp")])
                .map_err(|p| ck.problems.extend(p))
                .ok()
        });
        if !ck.problems.is_empty() {
            return Err(ck.problems);
        }
        let state = NetState {
            hostname: self.hostname.clone(),
            sysctl: self.sysctl.to_values(),
            links,
            routes,
            rules,
            table_names: tables,
        };
        Ok(ValidConfig {
            config: self,
            state,
            firewall,
            bgp,
        })
    }

    fn check_tables(&self, ck: &mut Checker) -> BTreeMap<String, u32> {
        let mut by_id: HashMap<u32, &str> = HashMap::new();
        for (name, id) in &self.tables {
            let path = [key("tables"), key(name)];
            if TableRef::builtin(name).is_some() {
                ck.report(
                    &path,
                    format!("{name:?} is a built-in table name; pick another name"),
                );
            } else if *id == 0 || [TableRef::MAIN, TableRef::LOCAL, TableRef::DEFAULT].contains(id)
            {
                ck.report(
                    &path,
                    format!("table {id} is reserved; use 1..=252 or 256 and above"),
                );
            } else if let Some(other) = by_id.insert(*id, name) {
                ck.report(&path, format!("table {id} is already named {other:?}"));
            }
        }
        self.tables.clone()
    }

    fn check_interfaces(
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

    fn check_routes(
        &self,
        ck: &mut Checker,
        tables: &BTreeMap<String, u32>,
        links: &BTreeMap<IfName, Link>,
    ) -> RouteMap {
        let before = ck.problems.len();
        let mut routes = self.expand_routes(ck, tables, links, None);
        // Sorted, a key given twice sits next to itself. Stable: config order within a key.
        let strictly_sorted = routes.is_sorted_by(|a, b| a.key < b.key);
        if !strictly_sorted {
            routes.sort_by_key(|r| r.key);
        }
        let routes = if !strictly_sorted && routes.windows(2).any(|w| w[0].key == w[1].key) {
            // Expanded again, checking each key as it comes, to report every duplicate
            // where it is and with the entry that defined it first.
            ck.problems.truncate(before);
            let mut seen = HashSet::default();
            self.expand_routes(ck, tables, links, Some(&mut seen))
        } else {
            routes
        };
        let routes: RouteMap = routes.into_iter().collect();
        check_gateways(ck, &self.routes, &routes, links);
        routes
    }

    /// Every route the entries define, in config order. With `seen`, a key defined before
    /// is reported and the route left out; without, duplicates are the caller's to find.
    fn expand_routes(
        &self,
        ck: &mut Checker,
        tables: &BTreeMap<String, u32>,
        links: &BTreeMap<IfName, Link>,
        mut seen: Option<&mut HashSet<RouteKey, FastHash>>,
    ) -> Vec<Route> {
        let total: usize = self
            .routes
            .iter()
            .map(|r| r.prefixes.as_ref().map_or(1, |p| p.0.len()))
            .sum();
        let mut routes = Vec::with_capacity(total);
        // The table each route entry resolved to, to name the first of two conflicting
        // entries without keeping an index per route.
        let mut tables_of: Vec<Option<u32>> = Vec::with_capacity(self.routes.len());
        for (i, cfg) in self.routes.iter().enumerate() {
            tables_of.push(None);
            let path = vec![key("route"), Seg::Index(i)];
            let Some(template) = check_route(ck, &path, cfg, tables, links) else {
                continue;
            };
            tables_of[i] = Some(template.table);
            // The path of each destination is built only for an error: lists run to millions.
            let (field, dsts): (&str, &[IpNet]) = match (&cfg.to, &cfg.prefixes) {
                (Some(to), None) => ("to", std::slice::from_ref(to)),
                (None, Some(list)) if !list.0.is_empty() => ("prefixes", &list.0),
                (None, Some(_)) => {
                    ck.report(&at(&path, &["prefixes"]), "the prefix list is empty");
                    continue;
                }
                (Some(_), Some(_)) => {
                    ck.report(
                        &path,
                        "give either `to` (one route) or `prefixes` (many), not both",
                    );
                    continue;
                }
                (None, None) => {
                    ck.report(
                        &path,
                        "a route needs `to = \"PREFIX\"` or `prefixes = [...]`",
                    );
                    continue;
                }
            };
            let family = template.family_hint;
            let dpath = || at(&path, &[field]);
            for &dst in dsts {
                if dst.trunc() != dst {
                    ck.report(
                        &dpath(),
                        format!("{dst} has host bits set; did you mean {}?", dst.trunc()),
                    );
                    continue;
                }
                if family.is_some_and(|f| f != Family::of(&dst)) {
                    ck.report(
                        &dpath(),
                        format!("{dst} is not of the same family as the route's gateway or source"),
                    );
                    continue;
                }
                let metric = cfg
                    .metric
                    .map_or_else(|| default_metric(Family::of(&dst)), |m| m.get());
                let rkey = RouteKey {
                    table: template.table,
                    dst,
                    metric,
                };
                if seen.as_mut().is_some_and(|s| !s.insert(rkey)) {
                    let first = first_with_key(&self.routes, &tables_of, rkey).unwrap_or(i);
                    ck.report(
                        &dpath(),
                        format!(
                            "route to {dst} (table {}, metric {metric}) is already defined by route[{first}]; routes with the same destination, table and metric conflict",
                            rkey.table
                        ),
                    );
                    continue;
                }
                routes.push(Route {
                    key: rkey,
                    kind: cfg.kind,
                    via: cfg.via,
                    dev: cfg.dev.clone(),
                    onlink: cfg.onlink,
                    src: cfg.src,
                    nexthops: template.nexthops.clone(),
                });
            }
        }
        routes
    }

    fn check_rules(
        &self,
        ck: &mut Checker,
        tables: &BTreeMap<String, u32>,
        links: &BTreeMap<IfName, Link>,
    ) -> Vec<Rule> {
        let mut rules = Vec::new();
        let mut seen = HashMap::new();
        for (i, cfg) in self.rules.iter().enumerate() {
            let path = vec![key("rule"), Seg::Index(i)];
            if let Some(rule) = check_rule(ck, &path, cfg, tables, links) {
                if let Some(first) = seen.insert(rule.clone(), i) {
                    ck.report(&path, format!("this rule repeats rule[{first}]"));
                } else {
                    rules.push(rule);
                }
            }
        }
        rules.sort();
        rules
    }
}

fn check_hostname(ck: &mut Checker, h: &str) {
    let ok = !h.is_empty()
        && h.len() <= 64
        && h.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !ok {
        ck.report(&[key("hostname")], format!("{h:?} is not a hostname; use letters, digits and '-', dot-separated, at most 64 bytes"));
    }
}

fn resolve_table(
    ck: &mut Checker,
    path: &[Seg],
    t: &TableRef,
    tables: &BTreeMap<String, u32>,
) -> Option<u32> {
    match t {
        TableRef::Id(n) => Some(*n),
        TableRef::Name(n) => match TableRef::builtin(n).or_else(|| tables.get(n).copied()) {
            Some(id) => Some(id),
            None => {
                ck.report(path, format!("unknown table {n:?}; use a number, main, local, default, or declare it under [tables]"));
                None
            }
        },
    }
}

/// The link kind with its options, checking that the options table matches `kind`.
fn check_kind(
    ck: &mut Checker,
    path: &[Seg],
    cfg: &InterfaceConfig,
    tables: &BTreeMap<String, u32>,
) -> Option<LinkKind> {
    let given: Vec<&str> = [
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
    .collect();
    let kind = cfg.kind.as_str();
    if let Some(other) = given.iter().find(|k| **k != kind) {
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

/// What a route's attributes resolve to, shared by every prefix of a `prefixes` list.
struct RouteTemplate {
    table: u32,
    family_hint: Option<Family>,
    nexthops: Vec<NextHop>,
}

fn check_route(
    ck: &mut Checker,
    path: &[Seg],
    cfg: &RouteConfig,
    tables: &BTreeMap<String, u32>,
    links: &BTreeMap<IfName, Link>,
) -> Option<RouteTemplate> {
    let table = match &cfg.table {
        Some(t) => resolve_table(ck, &at(path, &["table"]), t, tables)?,
        None => TableRef::MAIN,
    };
    let mut ok = true;
    let mut fail = |ck: &mut Checker, p: Vec<Seg>, m: String| {
        ck.report(&p, m);
        ok = false;
    };
    let mut family_hint = None;
    let mut fam = |ck: &mut Checker, p: Vec<Seg>, a: &IpAddr, ok: &mut bool| match family_hint {
        Some(f) if f != Family::of_addr(a) => {
            ck.report(&p, format!("{a} mixes IPv4 and IPv6 in one route"));
            *ok = false;
        }
        _ => family_hint = Some(Family::of_addr(a)),
    };
    let mut ok2 = true;
    if let Some(v) = &cfg.via {
        fam(ck, at(path, &["via"]), v, &mut ok2);
    }
    if let Some(s) = &cfg.src {
        fam(ck, at(path, &["src"]), s, &mut ok2);
    }
    if let Some(d) = &cfg.dev {
        if !links.contains_key(d) {
            fail(
                ck,
                at(path, &["dev"]),
                format!("unknown interface {d}; declare it as an [[interface]]"),
            );
        }
    }
    let is_unicast = cfg.kind == RouteType::Unicast;
    if !is_unicast && (cfg.via.is_some() || cfg.dev.is_some() || !cfg.nexthops.is_empty()) {
        fail(
            ck,
            path.to_vec(),
            format!("a {:?} route takes no via, dev or nexthops", cfg.kind).to_lowercase(),
        );
    }
    if is_unicast && cfg.via.is_none() && cfg.dev.is_none() && cfg.nexthops.is_empty() {
        fail(
            ck,
            path.to_vec(),
            "a unicast route needs `via`, `dev` or `nexthops`".into(),
        );
    }
    if !cfg.nexthops.is_empty() && (cfg.via.is_some() || cfg.dev.is_some() || cfg.onlink) {
        fail(
            ck,
            path.to_vec(),
            "`nexthops` replaces `via`, `dev` and `onlink`; put them in each next hop".into(),
        );
    }
    if cfg.onlink && cfg.dev.is_none() {
        fail(ck, at(path, &["onlink"]), "`onlink` needs `dev`".into());
    }
    if let Some(IpAddr::V6(v)) = cfg.via {
        if v.is_unicast_link_local() && cfg.dev.is_none() {
            fail(
                ck,
                at(path, &["via"]),
                format!("link-local gateway {v} needs `dev`"),
            );
        }
    }
    let mut nexthops = Vec::new();
    for (j, nh) in cfg.nexthops.iter().enumerate() {
        let mut np = at(path, &["nexthops"]);
        np.push(Seg::Index(j));
        if nh.via.is_none() && nh.dev.is_none() {
            fail(ck, np.clone(), "a next hop needs `via` or `dev`".into());
        }
        if let Some(v) = &nh.via {
            fam(ck, at(&np, &["via"]), v, &mut ok2);
        }
        if let Some(d) = &nh.dev {
            if !links.contains_key(d) {
                fail(
                    ck,
                    at(&np, &["dev"]),
                    format!("unknown interface {d}; declare it as an [[interface]]"),
                );
            }
        }
        if nh.onlink && nh.dev.is_none() {
            fail(ck, at(&np, &["onlink"]), "`onlink` needs `dev`".into());
        }
        nexthops.push(NextHop {
            via: nh.via,
            dev: nh.dev.clone(),
            weight: nh.weight.map_or(1, |w| w.get()),
            onlink: nh.onlink,
        });
    }
    (ok && ok2).then_some(RouteTemplate {
        table,
        family_hint,
        nexthops,
    })
}

/// The first route entry that defines a route with `key`.
fn first_with_key(cfgs: &[RouteConfig], tables_of: &[Option<u32>], key: RouteKey) -> Option<usize> {
    cfgs.iter().zip(tables_of).position(|(c, t)| {
        let metric = c
            .metric
            .map_or_else(|| default_metric(Family::of(&key.dst)), |m| m.get());
        let has =
            c.to == Some(key.dst) || c.prefixes.as_ref().is_some_and(|p| p.0.contains(&key.dst));
        *t == Some(key.table) && metric == key.metric && has
    })
}

/// A gateway must be on a connected prefix of the route's interface (or of any interface),
/// unless the route says `onlink`. Checked per route entry: a `prefixes` list shares one.
fn check_gateways(
    ck: &mut Checker,
    cfgs: &[RouteConfig],
    routes: &RouteMap,
    links: &BTreeMap<IfName, Link>,
) {
    let dev_routes: Vec<&Route> = routes
        .values()
        .filter(|r| r.via.is_none() && r.dev.is_some())
        .collect();
    let connected = |via: &IpAddr, dev: Option<&IfName>| -> bool {
        if let IpAddr::V6(v) = via {
            if v.is_unicast_link_local() {
                return true;
            }
        }
        let on_link = |l: &Link| l.addresses.iter().any(|a| a.trunc().contains(via));
        let dev_route = |l: &IfName| {
            dev_routes
                .iter()
                .any(|r| r.dev.as_ref() == Some(l) && r.key.dst.contains(via))
        };
        match dev {
            Some(d) => links.get(d).is_some_and(on_link) || dev_route(d),
            None => links.values().any(on_link) || links.keys().any(dev_route),
        }
    };
    for (i, c) in cfgs.iter().enumerate() {
        let single = (Vec::new(), c.via.as_ref(), c.dev.as_ref(), c.onlink);
        let hops = c.nexthops.iter().enumerate().map(|(j, n)| {
            (
                vec![key("nexthops"), Seg::Index(j)],
                n.via.as_ref(),
                n.dev.as_ref(),
                n.onlink,
            )
        });
        for (at_hop, via, dev, onlink) in std::iter::once(single).chain(hops) {
            let Some(via) = via else { continue };
            if onlink || connected(via, dev) {
                continue;
            }
            let on = dev.map_or("any interface".to_owned(), |d| d.to_string());
            let mut path = vec![key("route"), Seg::Index(i)];
            path.extend(at_hop);
            path.push(key("via"));
            ck.report(
                &path,
                format!("gateway {via} is not on a connected prefix of {on}; add an address in its subnet, or set onlink = true with dev"),
            );
        }
    }
}

fn check_rule(
    ck: &mut Checker,
    path: &[Seg],
    cfg: &RuleConfig,
    tables: &BTreeMap<String, u32>,
    links: &BTreeMap<IfName, Link>,
) -> Option<Rule> {
    let fams: Vec<Family> = [cfg.from.as_ref(), cfg.to.as_ref()]
        .into_iter()
        .flatten()
        .map(Family::of)
        .collect();
    let family = match (cfg.family, fams.first()) {
        (Some(f), Some(g)) if f != *g => {
            ck.report(
                &at(path, &["family"]),
                "`family` disagrees with `from`/`to`",
            );
            return None;
        }
        (Some(f), _) => f,
        (None, Some(f)) => *f,
        (None, None) => {
            ck.report(
                path,
                "say family = \"ipv4\" or \"ipv6\" for a rule without `from` or `to`",
            );
            return None;
        }
    };
    if fams.iter().any(|f| *f != family) {
        ck.report(&at(path, &["to"]), "`from` and `to` must be of one family");
        return None;
    }
    for (field, net) in [("from", cfg.from), ("to", cfg.to)] {
        if let Some(n) = net {
            if n.trunc() != n {
                ck.report(
                    &at(path, &[field]),
                    format!("{n} has host bits set; did you mean {}?", n.trunc()),
                );
                return None;
            }
        }
    }
    for (field, dev) in [("iif", &cfg.iif), ("oif", &cfg.oif)] {
        if let Some(d) = dev {
            if !links.contains_key(d) {
                ck.report(
                    &at(path, &[field]),
                    format!("unknown interface {d}; declare it as an [[interface]]"),
                );
                return None;
            }
        }
    }
    let table = match (cfg.action, &cfg.table) {
        (RuleAction::Lookup, Some(t)) => resolve_table(ck, &at(path, &["table"]), t, tables)?,
        (RuleAction::Lookup, None) => {
            ck.report(path, "a lookup rule needs `table`");
            return None;
        }
        (_, Some(_)) => {
            ck.report(
                &at(path, &["table"]),
                "only action = \"lookup\" takes a table",
            );
            return None;
        }
        (_, None) => 0,
    };
    let fwmark = cfg.fwmark.map(|mut m| {
        // The kernel reports an unmasked mark with mask 0xffffffff.
        m.mask = Some(m.mask.unwrap_or(u32::MAX));
        m
    });
    Some(Rule {
        priority: cfg.priority.get(),
        family,
        from: cfg.from,
        to: cfg.to,
        iif: cfg.iif.clone(),
        oif: cfg.oif.clone(),
        fwmark,
        action: cfg.action,
        table,
    })
}
