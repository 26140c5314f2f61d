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
    #[serde(
        default,
        deserialize_with = "crate::types::deserialize_net",
        skip_serializing_if = "Option::is_none"
    )]
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
    if let Some(net) = canonical_v4(s.as_bytes()) {
        return Ok(net);
    }
    match s.parse::<IpNet>() {
        // A parse that succeeds with a leading zero is the ambiguous case: say why.
        Ok(_) => super::types::parse_net(s).map_err(|e| format!("prefix #{} {e}", i + 1)),
        Err(_) => Err(prefix_error(i, s)),
    }
}

fn prefix_error(i: usize, s: &str) -> String {
    format!(
        "prefix #{} {s:?} is not an IPv4 or IPv6 prefix like 192.0.2.0/24",
        i + 1
    )
}

/// The prefixes of a text block. A long one is parsed in two halves at once, the second
/// on another thread.
fn parse_text(s: &str) -> Result<Vec<IpNet>, String> {
    /// Bytes (about 60k prefixes) from which a second thread pays.
    const SPLIT_MIN: usize = 1 << 20;
    // The prefixes, or the position of the first bad one and its text.
    fn parse(s: &str) -> Result<Vec<IpNet>, (usize, &str)> {
        s.split_whitespace()
            .enumerate()
            .map(|(i, p)| parse_prefix(i, p).map_err(|_| (i, p)))
            .collect()
    }
    // An ASCII space or newline past the middle: a boundary between prefixes.
    let split = s
        .as_bytes()
        .iter()
        .skip(s.len() / 2)
        .position(u8::is_ascii_whitespace)
        .map(|at| at + s.len() / 2)
        .filter(|_| s.len() >= SPLIT_MIN);
    let Some(at) = split else {
        return parse(s).map_err(|(i, p)| prefix_error(i, p));
    };
    let (head, tail) = s.split_at(at);
    let (head, tail) = std::thread::scope(|scope| {
        let tail = scope.spawn(|| parse(tail));
        let head = parse(head);
        (head, tail.join())
    });
    let mut head = head.map_err(|(i, p)| prefix_error(i, p))?;
    match tail {
        Ok(Ok(tail)) => head.extend(tail),
        Ok(Err((i, p))) => return Err(prefix_error(head.len() + i, p)),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    Ok(head)
}

/// An IPv4 prefix written the canonical way (`192.0.2.0/24`: no leading zeros), parsed a
/// few times faster than the general parser manages: lists run to millions. Anything else
/// is `None`, left to the general parser.
fn canonical_v4(s: &[u8]) -> Option<IpNet> {
    fn number(s: &[u8], max: u32) -> Option<u32> {
        if s.is_empty() || s.len() > 3 || (s.len() > 1 && s[0] == b'0') {
            return None;
        }
        let mut n = 0u32;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(c - b'0');
        }
        (n <= max).then_some(n)
    }
    let slash = s.iter().position(|&c| c == b'/')?;
    let len = u8::try_from(number(&s[slash + 1..], 32)?).ok()?;
    let mut parts = s[..slash].split(|&c| c == b'.');
    let mut addr = 0u32;
    for _ in 0..4 {
        addr = addr << 8 | number(parts.next()?, 255)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(IpNet::V4(
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(addr), len).ok()?,
    ))
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
                parse_text(s).map(PrefixList).map_err(E::custom)
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
    #[serde(
        default,
        deserialize_with = "crate::types::deserialize_net",
        skip_serializing_if = "Option::is_none"
    )]
    pub from: Option<IpNet>,
    #[serde(
        default,
        deserialize_with = "crate::types::deserialize_net",
        skip_serializing_if = "Option::is_none"
    )]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_block_parses_in_halves_and_names_a_bad_prefix_by_its_number() {
        let text: String = (0..100_000u32)
            .map(|i| format!("{}/32\n", std::net::Ipv4Addr::from(i)))
            .collect();
        let list = parse_text(&text).unwrap();
        assert_eq!(list.len(), 100_000);
        assert!(
            list.iter()
                .enumerate()
                .all(|(i, p)| *p
                    == IpNet::new(std::net::Ipv4Addr::from(i as u32).into(), 32).unwrap())
        );
        for bad in [10, 99_990] {
            let mut t = text.clone();
            let at = t.match_indices('\n').nth(bad - 1).unwrap().0 + 1;
            t.insert_str(at, "bogus ");
            let err = parse_text(&t).unwrap_err();
            assert!(
                err.starts_with(&format!("prefix #{} \"bogus\"", bad + 1)),
                "{err}"
            );
        }
    }

    #[test]
    fn canonical_v4_parses_as_the_general_parser_does() {
        for s in [
            "0.0.0.0/0",
            "192.0.2.0/24",
            "255.255.255.255/32",
            "10.0.0.1/8",
            "100.64.12.7/32",
        ] {
            assert_eq!(canonical_v4(s.as_bytes()), Some(s.parse().unwrap()), "{s}");
        }
        for s in [
            "01.0.0.0/8",
            "1.2.3.4/033",
            "256.0.0.0/8",
            "1.2.3.4/33",
            "1.2.3/24",
            "1.2.3.4.5/24",
            "1.2.3.4",
            "1.2.3.4/",
            "/24",
            "1..3.4/24",
            "+1.2.3.4/24",
            "2001:db8::/32",
            "1.2.3.4/2x",
        ] {
            assert_eq!(canonical_v4(s.as_bytes()), None, "{s}");
        }
    }
}
