//! The resolved network state: what validation produces from a config and what the kernel
//! reader produces from a live system. The planner diffs two of these.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::interface::{AdminState, BondMode, LacpRate, MacvlanMode, VlanProtocol, XmitHashPolicy};
use super::route::{Family, RouteType, RuleAction};
use super::types::{Fwmark, IfName, MacAddr, VlanId};
use super::wireguard::WireguardOpts;

/// Routes by key, kept sorted by key in one vector: the planner and verification walk two
/// of them side by side instead of looking a million keys up at random, a sorted list (as
/// a config's `prefixes` and a kernel dump mostly are) is one already, and a million
/// routes take one allocation. Adding or removing one route moves the ones after it: fine
/// for the handful that are changed one at a time; large sets are collected.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteMap(Vec<Route>);

impl RouteMap {
    fn find(&self, key: &RouteKey) -> Result<usize, usize> {
        self.0.binary_search_by(|r| r.key.cmp(key))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &RouteKey) -> Option<&Route> {
        self.find(key).ok().map(|i| &self.0[i])
    }

    pub fn contains_key(&self, key: &RouteKey) -> bool {
        self.find(key).is_ok()
    }

    /// Adds `route`, or replaces the one with its key (returned).
    pub fn insert(&mut self, route: Route) -> Option<Route> {
        match self.find(&route.key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i], route)),
            Err(i) => {
                self.0.insert(i, route);
                None
            }
        }
    }

    pub fn remove(&mut self, key: &RouteKey) -> Option<Route> {
        self.find(key).ok().map(|i| self.0.remove(i))
    }

    pub fn retain(&mut self, keep: impl FnMut(&Route) -> bool) {
        self.0.retain(keep);
    }

    /// The routes in key order.
    pub fn values(&self) -> std::slice::Iter<'_, Route> {
        self.0.iter()
    }

    pub fn into_values(self) -> std::vec::IntoIter<Route> {
        self.0.into_iter()
    }
}

impl FromIterator<Route> for RouteMap {
    /// Of routes with one key, the last stays, as if each were inserted in turn.
    fn from_iter<I: IntoIterator<Item = Route>>(routes: I) -> RouteMap {
        let mut v: Vec<Route> = routes.into_iter().collect();
        if !v.is_sorted_by(|a, b| a.key < b.key) {
            // Stable: routes with one key stay in the order given; the last is kept.
            v.sort_by_key(|r| r.key);
            v.reverse();
            v.dedup_by_key(|r| r.key);
            v.reverse();
        }
        RouteMap(v)
    }
}
/// For maps hashed once per route. Keys come from the operator's own config and kernel,
/// not from an adversary, so a fast non-keyed hash serves.
pub type FastHash = std::hash::BuildHasherDefault<rustc_hash::FxHasher>;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetState {
    pub hostname: Option<String>,
    pub sysctl: Sysctls,
    pub links: BTreeMap<IfName, Link>,
    pub routes: RouteMap,
    pub rules: Vec<Rule>,
    /// Table names the config declared, kept so that `show` can write them back.
    pub table_names: BTreeMap<String, u32>,
}

/// Sysctl values by dotted name (`net.ipv4.ip_forward`), normalised.
pub type Sysctls = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: IfName,
    pub kind: LinkKind,
    pub state: AdminState,
    /// `None` in a desired state means "whatever the kernel has".
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
    pub description: Option<String>,
    /// Addresses with their prefix length, sorted.
    pub addresses: Vec<IpNet>,
    /// The bridge, bond or VRF this link is enslaved to.
    pub master: Option<IfName>,
}

impl Link {
    pub fn new(name: IfName, kind: LinkKind) -> Link {
        Link {
            name,
            kind,
            state: AdminState::Up,
            mtu: None,
            mac: None,
            description: None,
            addresses: Vec::new(),
            master: None,
        }
    }

    /// The link this one is stacked on (VLAN, MACVLAN parent).
    pub fn parent(&self) -> Option<&IfName> {
        match &self.kind {
            LinkKind::Vlan { parent, .. } | LinkKind::Macvlan { parent, .. } => Some(parent),
            _ => None,
        }
    }

    /// Whether the agent creates and deletes this link (loopback and NICs it only configures).
    pub fn is_virtual(&self) -> bool {
        !matches!(self.kind, LinkKind::Loopback | LinkKind::Physical { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    Loopback,
    Physical {
        match_mac: Option<MacAddr>,
    },
    Bridge {
        stp: bool,
        vlan_filtering: bool,
    },
    Vlan {
        parent: IfName,
        id: VlanId,
        protocol: VlanProtocol,
    },
    Bond {
        mode: BondMode,
        miimon: Option<u32>,
        lacp_rate: Option<LacpRate>,
        xmit_hash_policy: Option<XmitHashPolicy>,
    },
    Dummy,
    Vrf {
        table: u32,
    },
    Veth {
        peer: IfName,
    },
    Macvlan {
        parent: IfName,
        mode: MacvlanMode,
    },
    /// Boxed: keys and peers would make every link as large.
    Wireguard(Box<WireguardOpts>),
}

impl LinkKind {
    pub fn name(&self) -> &'static str {
        match self {
            LinkKind::Loopback => "loopback",
            LinkKind::Physical { .. } => "physical",
            LinkKind::Bridge { .. } => "bridge",
            LinkKind::Vlan { .. } => "vlan",
            LinkKind::Bond { .. } => "bond",
            LinkKind::Dummy => "dummy",
            LinkKind::Vrf { .. } => "vrf",
            LinkKind::Veth { .. } => "veth",
            LinkKind::Macvlan { .. } => "macvlan",
            LinkKind::Wireguard(_) => "wireguard",
        }
    }
}

/// What identifies a route in the kernel: two routes with the same key cannot coexist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    pub table: u32,
    pub dst: IpNet,
    pub metric: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub key: RouteKey,
    pub kind: RouteType,
    pub via: Option<IpAddr>,
    pub dev: Option<IfName>,
    pub onlink: bool,
    pub src: Option<IpAddr>,
    /// Multipath next hops; empty for a single-path route.
    pub nexthops: Vec<NextHop>,
}

impl Route {
    pub fn family(&self) -> Family {
        Family::of(&self.key.dst)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHop {
    pub via: Option<IpAddr>,
    pub dev: Option<IfName>,
    pub weight: u16,
    pub onlink: bool,
}

/// A policy routing rule. The whole rule is its identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rule {
    pub priority: u32,
    pub family: Family,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    pub iif: Option<IfName>,
    pub oif: Option<IfName>,
    pub fwmark: Option<Fwmark>,
    pub action: RuleAction,
    /// The table for `lookup`; 0 otherwise.
    pub table: u32,
}

/// The MTU of a link whose config sets none: what the kernel gives a new link of its kind.
/// A VLAN or MACVLAN takes its parent's, a bridge the smallest of its ports' (1500 without
/// ports). An omitted MTU means this value, so that `show` can leave defaults out and still
/// describe the state exactly.
pub fn default_mtu(links: &BTreeMap<IfName, Link>, link: &Link) -> u32 {
    default_mtu_at(links, link, 0)
}

fn default_mtu_at(links: &BTreeMap<IfName, Link>, link: &Link, depth: usize) -> u32 {
    let resolved = |l: &Link| match l.mtu {
        Some(m) => m,
        None if depth > links.len() => 1500,
        None => default_mtu_at(links, l, depth + 1),
    };
    match &link.kind {
        LinkKind::Loopback => 65536,
        LinkKind::Vrf { .. } => 65575,
        // 1500 less the IPv6 + UDP + WireGuard headers (80 bytes).
        LinkKind::Wireguard(_) => 1420,
        LinkKind::Vlan { parent, .. } | LinkKind::Macvlan { parent, .. } => {
            links.get(parent).map_or(1500, resolved)
        }
        LinkKind::Bridge { .. } => links
            .values()
            .filter(|l| l.master.as_ref() == Some(&link.name))
            .map(resolved)
            .min()
            .unwrap_or(1500),
        _ => 1500,
    }
}

/// Default metric the kernel gives a route added without one.
pub fn default_metric(family: Family) -> u32 {
    match family {
        Family::Ipv4 => 0,
        Family::Ipv6 => 1024,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dst: &str, metric: u32, via: &str) -> Route {
        Route {
            key: RouteKey {
                table: 254,
                dst: dst.parse().unwrap(),
                metric,
            },
            kind: RouteType::Unicast,
            via: Some(via.parse().unwrap()),
            dev: None,
            onlink: false,
            src: None,
            nexthops: Vec::new(),
        }
    }

    #[test]
    fn route_map_keeps_key_order_and_the_last_route_of_a_key() {
        let map: RouteMap = [
            route("10.2.0.0/16", 0, "192.0.2.1"),
            route("10.1.0.0/16", 5, "192.0.2.1"),
            route("10.2.0.0/16", 0, "192.0.2.2"),
            route("10.1.0.0/16", 0, "192.0.2.1"),
        ]
        .into_iter()
        .collect();
        let keys: Vec<_> = map
            .values()
            .map(|r| (r.key.dst.to_string(), r.key.metric))
            .collect();
        assert_eq!(
            keys,
            [
                ("10.1.0.0/16".into(), 0),
                ("10.1.0.0/16".into(), 5),
                ("10.2.0.0/16".to_string(), 0)
            ]
        );
        let k = route("10.2.0.0/16", 0, "192.0.2.2").key;
        assert_eq!(map.get(&k), Some(&route("10.2.0.0/16", 0, "192.0.2.2")));

        let mut m = map.clone();
        assert_eq!(m.insert(route("10.0.0.0/8", 0, "192.0.2.9")), None);
        assert!(m.values().is_sorted_by(|a, b| a.key < b.key));
        assert!(m.insert(route("10.2.0.0/16", 0, "192.0.2.3")).is_some());
        assert_eq!(m.len(), 4);
        assert!(m.remove(&k).is_some());
        assert!(!m.contains_key(&k));
        assert_eq!(m.remove(&k), None);
    }
}
