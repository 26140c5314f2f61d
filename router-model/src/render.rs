//! A [`NetState`] back to a [`Config`] and to TOML: what `show` prints and the store keeps.
//! Values equal to what the kernel would pick anyway are left out, so the output reads like
//! a config an operator wrote.

use std::collections::BTreeMap;

use super::interface::*;
use super::route::{NextHopConfig, PrefixList, RouteConfig, RuleConfig};
use super::state::{default_metric, default_mtu, Link, LinkKind, NetState, NextHop, Route, Rule};
use super::sysctl::SysctlConfig;
use super::types::{IfName, Metric, Mtu, RulePriority, TableRef, Weight};
use super::wireguard::HIDDEN;
use super::{Config, Version};

/// Routes sharing every attribute are written as one `prefixes` list from this many on.
pub const GROUP_MIN: usize = 8;

/// The config that describes `state`.
pub fn to_config(state: &NetState) -> Config {
    let names: BTreeMap<u32, &str> = state
        .table_names
        .iter()
        .map(|(n, id)| (*id, n.as_str()))
        .collect();
    let table = |id: u32| match names.get(&id) {
        Some(n) => TableRef::Name((*n).to_owned()),
        None => TableRef::for_id(id),
    };
    Config {
        version: Version::default(),
        hostname: state.hostname.clone(),
        sysctl: SysctlConfig::from_values(&state.sysctl),
        tables: state.table_names.clone(),
        interfaces: render_links(state, &table),
        routes: render_routes(state, &table),
        rules: state.rules.iter().map(|r| render_rule(r, &table)).collect(),
        firewall: None,
        bgp: None,
        logging: None,
    }
}

/// The config that describes `state`, as TOML text.
pub fn render(state: &NetState) -> String {
    render_config(&to_config(state))
}

/// A config as TOML text.
pub fn render_config(config: &Config) -> String {
    // Serialising plain data into TOML cannot fail: every map key is a string.
    toml::to_string(config).unwrap_or_else(|e| panic!("rendering config: {e}"))
}

/// `text` (a rendered config) with every WireGuard private and preshared key replaced by
/// [`HIDDEN`]: what `show` prints unless asked for secrets. The rest stays as rendered.
pub fn redact_secrets(text: &str) -> String {
    let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
        return text.to_owned();
    };
    let hide = |t: &mut dyn toml_edit::TableLike, key: &str| {
        if let Some(v) = t.get_mut(key).and_then(toml_edit::Item::as_value_mut) {
            let decor = v.decor().clone();
            *v = HIDDEN.into();
            *v.decor_mut() = decor;
        }
    };
    let interfaces = doc
        .get_mut("interface")
        .and_then(toml_edit::Item::as_array_of_tables_mut);
    for iface in interfaces.into_iter().flat_map(|a| a.iter_mut()) {
        let Some(wg) = iface
            .get_mut("wireguard")
            .and_then(toml_edit::Item::as_table_like_mut)
        else {
            continue;
        };
        hide(wg, "private_key");
        let peers = wg.get_mut("peer");
        if let Some(peers) = peers.and_then(toml_edit::Item::as_array_of_tables_mut) {
            for p in peers.iter_mut() {
                hide(p, "preshared_key");
            }
        } else if let Some(peers) = wg.get_mut("peer").and_then(toml_edit::Item::as_array_mut) {
            for p in peers
                .iter_mut()
                .filter_map(toml_edit::Value::as_inline_table_mut)
            {
                hide(p, "preshared_key");
            }
        }
    }
    doc.to_string()
}

fn members(state: &NetState, master: &IfName) -> Vec<IfName> {
    state
        .links
        .values()
        .filter(|l| l.master.as_ref() == Some(master))
        .map(|l| l.name.clone())
        .collect()
}

fn render_links(state: &NetState, table: &dyn Fn(u32) -> TableRef) -> Vec<InterfaceConfig> {
    let rank = |l: &Link| match l.kind {
        LinkKind::Loopback => 0,
        LinkKind::Physical { .. } => 1,
        _ => 2,
    };
    let mut links: Vec<&Link> = state.links.values().collect();
    links.sort_by(|a, b| (rank(a), &a.name).cmp(&(rank(b), &b.name)));
    links
        .into_iter()
        .map(|l| {
            let mut c = InterfaceConfig {
                name: l.name.clone(),
                kind: InterfaceKind::Loopback,
                state: l.state,
                mtu: l
                    .mtu
                    .filter(|m| *m != default_mtu(&state.links, l))
                    .and_then(|m| Mtu::new(m).ok()),
                mac: l.mac,
                description: l.description.clone(),
                addresses: l.addresses.clone(),
                physical: None,
                bridge: None,
                vlan: None,
                bond: None,
                vrf: None,
                veth: None,
                macvlan: None,
                wireguard: None,
            };
            match &l.kind {
                LinkKind::Loopback => {}
                LinkKind::Physical { match_mac } => {
                    c.kind = InterfaceKind::Physical;
                    c.physical = match_mac.map(|m| PhysicalOpts { match_mac: Some(m) });
                }
                LinkKind::Bridge {
                    stp,
                    vlan_filtering,
                } => {
                    c.kind = InterfaceKind::Bridge;
                    c.bridge = Some(BridgeOpts {
                        ports: members(state, &l.name),
                        stp: *stp,
                        vlan_filtering: *vlan_filtering,
                    })
                    .filter(|b| *b != BridgeOpts::default());
                }
                LinkKind::Vlan {
                    parent,
                    id,
                    protocol,
                } => {
                    c.kind = InterfaceKind::Vlan;
                    c.vlan = Some(VlanOpts {
                        parent: parent.clone(),
                        id: *id,
                        protocol: *protocol,
                    });
                }
                LinkKind::Bond {
                    mode,
                    miimon,
                    lacp_rate,
                    xmit_hash_policy,
                } => {
                    c.kind = InterfaceKind::Bond;
                    c.bond = Some(BondOpts {
                        mode: *mode,
                        members: members(state, &l.name),
                        miimon: *miimon,
                        lacp_rate: *lacp_rate,
                        xmit_hash_policy: *xmit_hash_policy,
                    });
                }
                LinkKind::Dummy => c.kind = InterfaceKind::Dummy,
                LinkKind::Vrf { table: t } => {
                    c.kind = InterfaceKind::Vrf;
                    c.vrf = Some(VrfOpts {
                        table: table(*t),
                        members: members(state, &l.name),
                    });
                }
                LinkKind::Veth { peer } => {
                    c.kind = InterfaceKind::Veth;
                    c.veth = Some(VethOpts { peer: peer.clone() });
                }
                LinkKind::Macvlan { parent, mode } => {
                    c.kind = InterfaceKind::Macvlan;
                    c.macvlan = Some(MacvlanOpts {
                        parent: parent.clone(),
                        mode: *mode,
                    });
                }
                LinkKind::Wireguard(wg) => {
                    c.kind = InterfaceKind::Wireguard;
                    c.wireguard = Some((**wg).clone());
                }
            }
            c
        })
        .collect()
}

/// Everything about a route but its destination: routes with equal attributes are grouped.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Attrs<'a> {
    table: u32,
    v6: bool,
    metric: u32,
    kind: super::route::RouteType,
    via: Option<std::net::IpAddr>,
    dev: Option<&'a IfName>,
    onlink: bool,
    src: Option<std::net::IpAddr>,
    nexthops: &'a [NextHop],
}

fn render_routes(state: &NetState, table: &dyn Fn(u32) -> TableRef) -> Vec<RouteConfig> {
    let mut groups: BTreeMap<Attrs, Vec<&Route>> = BTreeMap::new();
    for r in state.routes.values() {
        let attrs = Attrs {
            table: r.key.table,
            v6: r.key.dst.addr().is_ipv6(),
            metric: r.key.metric,
            kind: r.kind,
            via: r.via,
            dev: r.dev.as_ref(),
            onlink: r.onlink,
            src: r.src,
            nexthops: &r.nexthops,
        };
        groups.entry(attrs).or_default().push(r);
    }
    let mut out = Vec::new();
    for (_, mut routes) in groups {
        routes.sort_by_key(|r| r.key.dst);
        let first = routes[0];
        let template = RouteConfig {
            to: None,
            prefixes: None,
            kind: first.kind,
            via: first.via,
            dev: first.dev.clone(),
            onlink: first.onlink,
            metric: (first.key.metric != default_metric(first.family())).then(|| {
                // Every u32 is a valid metric.
                Metric::new(first.key.metric).unwrap_or_else(|e| panic!("{e}"))
            }),
            table: (first.key.table != TableRef::MAIN).then(|| table(first.key.table)),
            src: first.src,
            nexthops: first.nexthops.iter().map(render_nexthop).collect(),
        };
        if routes.len() >= GROUP_MIN {
            out.push(RouteConfig {
                prefixes: Some(PrefixList(routes.iter().map(|r| r.key.dst).collect())),
                ..template
            });
        } else {
            out.extend(routes.iter().map(|r| RouteConfig {
                to: Some(r.key.dst),
                ..template.clone()
            }));
        }
    }
    out
}

fn render_nexthop(nh: &NextHop) -> NextHopConfig {
    NextHopConfig {
        via: nh.via,
        dev: nh.dev.clone(),
        weight: (nh.weight != 1)
            .then(|| Weight::new(nh.weight).ok())
            .flatten(),
        onlink: nh.onlink,
    }
}

fn render_rule(r: &Rule, table: &dyn Fn(u32) -> TableRef) -> RuleConfig {
    RuleConfig {
        priority: RulePriority::new(r.priority).unwrap_or_else(|e| panic!("{e}")),
        family: (r.from.is_none() && r.to.is_none()).then_some(r.family),
        from: r.from,
        to: r.to,
        iif: r.iif.clone(),
        oif: r.oif.clone(),
        fwmark: r.fwmark.map(|mut m| {
            if m.mask == Some(u32::MAX) {
                m.mask = None;
            }
            m
        }),
        table: r.action.is_lookup().then(|| table(r.table)),
        action: r.action,
    }
}
