//! The validated firewall in canonical form: what the config means and what is read back
//! from the kernel, so that two firewalls that behave alike compare equal.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::intervals::{AddrList, PortList};
use super::values::*;
use crate::error::Seg;
use crate::{Family, IfName};

/// The agent's own nftables table.
pub const TABLE: &str = "router_agent";
/// Zones become sets named with this prefix.
pub const ZONE_SET_PREFIX: &str = "zone_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainType {
    Filter,
    Nat,
    Route,
}

impl ChainType {
    pub fn word(self) -> &'static str {
        match self {
            ChainType::Filter => "filter",
            ChainType::Nat => "nat",
            ChainType::Route => "route",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub fn word(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFamily {
    Ip,
    Ip6,
    Inet,
    Arp,
    Bridge,
    Netdev,
}

impl TableFamily {
    pub fn word(self) -> &'static str {
        match self {
            TableFamily::Ip => "ip",
            TableFamily::Ip6 => "ip6",
            TableFamily::Inet => "inet",
            TableFamily::Arp => "arp",
            TableFamily::Bridge => "bridge",
            TableFamily::Netdev => "netdev",
        }
    }
}

/// Where a base chain hooks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BaseChain {
    pub kind: ChainType,
    pub hook: Hook,
    pub priority: i32,
    pub policy: Policy,
}

/// The chains every firewall has, and the NAT chains its NAT rules go to.
pub const STANDARD_CHAINS: [(&str, ChainType, Hook, i32); 5] = [
    ("input", ChainType::Filter, Hook::Input, 0),
    ("forward", ChainType::Filter, Hook::Forward, 0),
    ("output", ChainType::Filter, Hook::Output, 0),
    ("prerouting", ChainType::Nat, Hook::Prerouting, -100),
    ("postrouting", ChainType::Nat, Hook::Postrouting, 100),
];

/// The standard chain of that name, with the accept policy.
pub fn standard_chain(name: &str) -> Option<BaseChain> {
    STANDARD_CHAINS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|&(_, kind, hook, priority)| BaseChain {
            kind,
            hook,
            priority,
            policy: Policy::Accept,
        })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// None for a regular chain, reached only by jump or goto.
    pub base: Option<BaseChain>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rule {
    Model(Box<ModelRule>),
    /// nftables syntax, as the operator or `nft list` wrote it.
    Raw(String),
}

/// A rule the model expresses. Lists are in canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ModelRule {
    /// Only when nothing else in the rule implies the family.
    pub family: Option<Family>,
    pub iif: Option<IfMatch>,
    pub oif: Option<IfMatch>,
    pub saddr: Option<AddrMatch>,
    pub daddr: Option<AddrMatch>,
    /// Sorted by number.
    pub protocols: Vec<Protocol>,
    pub sport: Option<PortMatch>,
    pub dport: Option<PortMatch>,
    /// Sorted by type number; ICMPv6 names when `protocols` is icmpv6.
    pub icmp_types: Vec<String>,
    /// Sorted by bit.
    pub state: Vec<CtState>,
    pub limit: Option<Limit>,
    pub counter: bool,
    pub log: Option<Log>,
    pub verdict: Verdict,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    pub rate: Rate,
    pub burst: u32,
}

impl Limit {
    /// nft's burst when none is given.
    pub const DEFAULT_BURST: u32 = 5;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IfMatch {
    Zone(Name),
    /// Sorted, no duplicates.
    Names(Vec<IfName>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddrMatch {
    Set(Name, Family),
    List(AddrList),
}

impl AddrMatch {
    pub fn family(&self) -> Family {
        match self {
            AddrMatch::Set(_, f) => *f,
            AddrMatch::List(l) => l.family,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortMatch {
    Set(Name),
    List(PortList),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Verdict {
    #[default]
    Accept,
    Drop,
    Reject(RejectWith),
    Return,
    Jump(Name),
    Goto(Name),
    Masquerade,
    Snat(NatTarget),
    Dnat(NatTarget),
    /// To this local port.
    Redirect(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetElements {
    Addr(AddrList),
    Port(PortList),
}

impl SetElements {
    pub fn kind(&self) -> SetKind {
        match self {
            SetElements::Addr(l) if l.family == Family::Ipv4 => SetKind::Ipv4,
            SetElements::Addr(_) => SetKind::Ipv6,
            SetElements::Port(_) => SetKind::Port,
        }
    }
    /// Entries as the config writes them (prefixes, ports and port ranges).
    pub fn len(&self) -> usize {
        match self {
            SetElements::Addr(l) => l.prefixes().len(),
            SetElements::Port(l) => l.intervals().len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A foreign table kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptTable {
    pub family: TableFamily,
    pub name: Name,
    pub ruleset: String,
}

impl KeptTable {
    /// `inet fail2ban`: how nft commands name the table.
    pub fn id(&self) -> String {
        format!("{} {}", self.family.word(), self.name)
    }
}

/// Where each part came from in the config, for nft's errors. Not part of the firewall's
/// meaning: any two are equal.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    pub rules: HashMap<(Name, usize), Vec<Seg>>,
    pub raw: Option<Vec<Seg>>,
    pub tables: Vec<Vec<Seg>>,
}

impl PartialEq for Origins {
    fn eq(&self, _: &Origins) -> bool {
        true
    }
}
impl Eq for Origins {}

/// The whole firewall, canonical.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Firewall {
    /// Zone name to its interfaces, sorted.
    pub zones: BTreeMap<Name, Vec<IfName>>,
    pub sets: BTreeMap<Name, SetElements>,
    /// Every chain of the agent's table, the standard ones included.
    pub chains: BTreeMap<Name, Chain>,
    /// Text placed inside the agent's table.
    pub raw: Option<String>,
    pub tables: Vec<KeptTable>,
    pub origins: Origins,
}

impl Firewall {
    pub fn policy(&self, chain: &str) -> Policy {
        self.chains
            .iter()
            .find(|(n, _)| n.as_str() == chain)
            .and_then(|(_, c)| c.base)
            .map_or(Policy::Accept, |b| b.policy)
    }

    /// Sets, maps and chains the raw text declares.
    pub fn raw_names(&self) -> std::collections::BTreeSet<String> {
        let raw = self.raw.as_deref().unwrap_or("");
        let mut names = super::validate::raw_declared(raw, "set");
        names.extend(super::validate::raw_declared(raw, "chain"));
        names
    }

    pub fn rule_count(&self) -> usize {
        self.chains.values().map(|c| c.rules.len()).sum()
    }
}
