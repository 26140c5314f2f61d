//! `[[route]]` and `[[rule]]` as written.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::types::{Fwmark, IfName, Metric, RulePriority, TableRef, Weight};

/// One route (`to`), or many routes sharing every attribute (`prefixes`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<PrefixList>,
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "RouteType::is_unicast"
    )]
    pub kind: RouteType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<IfName>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub onlink: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableRef>,
    /// Preferred source address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
    /// Multipath (ECMP/WCMP) next hops; exclusive with `via`/`dev`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nexthops: Vec<NextHopConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NextHopConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<IfName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<Weight>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub onlink: bool,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RouteType {
    #[default]
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
}

impl RouteType {
    pub fn is_unicast(&self) -> bool {
        *self == RouteType::Unicast
    }
}

/// A list of prefixes: a TOML array of strings, or one string of prefixes separated by
/// whitespace (parses about twice as fast for lists of 100k+ entries).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrefixList(pub Vec<IpNet>);

impl PrefixList {
    /// Lists longer than this are written back as a text block.
    pub const INLINE_MAX: usize = 32;
}

fn parse_prefix(i: usize, s: &str) -> Result<IpNet, String> {
    s.parse().map_err(|_| {
        format!(
            "prefix #{} {s:?} is not an IPv4 or IPv6 prefix like 192.0.2.0/24",
            i + 1
        )
    })
}

impl<'de> Deserialize<'de> for PrefixList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = PrefixList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of prefixes, or a string of prefixes separated by whitespace")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<PrefixList, E> {
                s.split_whitespace()
                    .enumerate()
                    .map(|(i, p)| parse_prefix(i, p))
                    .collect::<Result<_, _>>()
                    .map(PrefixList)
                    .map_err(E::custom)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<PrefixList, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(s) = seq.next_element::<String>().map_err(|_| {
                    de::Error::custom(format!("prefix #{} must be a string", out.len() + 1))
                })? {
                    out.push(parse_prefix(out.len(), &s).map_err(de::Error::custom)?);
                }
                Ok(PrefixList(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for PrefixList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.len() <= Self::INLINE_MAX {
            s.collect_seq(self.0.iter().map(|p| p.to_string()))
        } else {
            let mut text = String::with_capacity(self.0.len() * 20);
            for p in &self.0 {
                text.push_str(&p.to_string());
                text.push('\n');
            }
            s.serialize_str(&text)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub priority: RulePriority,
    /// Needed only when neither `from` nor `to` says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<IfName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<IfName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<Fwmark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableRef>,
    #[serde(default, skip_serializing_if = "RuleAction::is_lookup")]
    pub action: RuleAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::Ipv4,
            IpNet::V6(_) => Family::Ipv6,
        }
    }
    pub fn of_addr(a: &IpAddr) -> Family {
        match a {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    #[default]
    Lookup,
    Blackhole,
    Unreachable,
    Prohibit,
}

impl RuleAction {
    pub fn is_lookup(&self) -> bool {
        *self == RuleAction::Lookup
    }
}
