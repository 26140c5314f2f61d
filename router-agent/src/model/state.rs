//! The resolved network state: what validation produces from a config and what the kernel
//! reader produces from a live system. The planner diffs two of these.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::interface::{AdminState, BondMode, LacpRate, MacvlanMode, VlanProtocol, XmitHashPolicy};
use super::route::{Family, RouteType, RuleAction};
use super::types::{Fwmark, IfName, MacAddr, VlanId};

/// Routes by key, in key order: the planner and verification walk two of them side by side
/// instead of looking a million keys up at random, and a sorted list (as a config's
/// `prefixes` and a kernel dump mostly are) builds in one pass.
pub type RouteMap = BTreeMap<RouteKey, Route>;
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
