//! The `[firewall]` section: policies, zones, named sets, rules, NAT and raw nftables text,
//! and its validated, canonical form [`Firewall`]. Pure, like the rest of `model`.

pub mod confine;
mod intervals;
mod render;
mod state;
mod validate;
mod values;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Family;

pub use intervals::{parse_addr_entry, parse_port_entry, port_text, AddrList, Entries, PortList};
pub use state::*;
pub use values::*;

/// The section as written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallConfig {
    /// Default verdicts of the input, forward and output chains.
    #[serde(default, skip_serializing_if = "Policy::is_accept")]
    pub input: Policy,
    #[serde(default, skip_serializing_if = "Policy::is_accept")]
    pub forward: Policy,
    #[serde(default, skip_serializing_if = "Policy::is_accept")]
    pub output: Policy,
    #[serde(default, rename = "zone", skip_serializing_if = "BTreeMap::is_empty")]
    pub zones: BTreeMap<Name, ZoneConfig>,
    #[serde(default, rename = "set", skip_serializing_if = "BTreeMap::is_empty")]
    pub sets: BTreeMap<Name, SetConfig>,
    /// Chains beyond the standard ones (input, forward, output, prerouting, postrouting).
    #[serde(default, rename = "chain", skip_serializing_if = "BTreeMap::is_empty")]
    pub chains: BTreeMap<Name, ChainConfig>,
    #[serde(default, rename = "rule", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<FwRuleConfig>,
    #[serde(default, rename = "nat", skip_serializing_if = "Vec::is_empty")]
    pub nat: Vec<FwRuleConfig>,
    /// nftables text placed inside the agent's table, for objects the model lacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Other nftables tables kept as they are, in nftables' own syntax.
    #[serde(default, rename = "table", skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub interfaces: Entries,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetConfig {
    #[serde(rename = "type")]
    pub kind: SetKind,
    #[serde(default, skip_serializing_if = "is_empty")]
    pub elements: Entries,
}

fn is_empty(e: &Entries) -> bool {
    e.0.is_empty()
}

/// A chain of the operator's own: a target for `jump`/`goto`, or with `hook` a base chain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ChainType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<Hook>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
}

/// One `[[firewall.rule]]` or `[[firewall.nat]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FwRuleConfig {
    /// input, forward, output (rules), prerouting, postrouting (NAT) or a chain of `[firewall.chain]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// Needed only when no address, ICMP type or protocol says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_zone: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_interface: Option<Entries>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_zone: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_interface: Option<Entries>,
    /// Addresses, prefixes and ranges, or `@set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Entries>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Entries>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Entries>,
    /// Ports and ranges, or `@set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<Entries>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dport: Option<Entries>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<Entries>,
    /// Conntrack states: new, established, related, invalid, untracked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Entries>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Rate>,
    /// Packets allowed above `limit` in a burst (nft's default: 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counter: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<Log>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_with: Option<RejectWith>,
    /// Where snat, dnat and redirect send packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NatTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The whole rule in nftables syntax, for what the fields above cannot say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// A table of someone else's (fail2ban, a container runtime) that the config keeps.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    pub family: TableFamily,
    pub name: Name,
    /// The table's content as `nft list table` prints it.
    pub ruleset: String,
}
