//! The firewall's scalar values, each parsed and checked while deserializing.

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::types::{check_identifier, string_serde};
use crate::Family;

/// A name of a zone, set or chain: what nft accepts unquoted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    pub const MAX_LEN: usize = 64;
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        check_identifier(s, Self::MAX_LEN).map(|()| Name(s.to_owned()))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(Name, "a name (a letter, then letters, digits or '_')");

/// A base chain's default verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    #[default]
    Accept,
    Drop,
}

impl Policy {
    pub fn is_accept(&self) -> bool {
        *self == Policy::Accept
    }
    pub fn word(self) -> &'static str {
        match self {
            Policy::Accept => "accept",
            Policy::Drop => "drop",
        }
    }
}

/// What a matching packet gets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    Accept,
    Drop,
    Reject,
    Return,
    Jump(Name),
    Goto(Name),
    Masquerade,
    Snat,
    Dnat,
    Redirect,
}

impl Action {
    /// Address translation, as opposed to filtering.
    pub fn is_nat(&self) -> bool {
        matches!(
            self,
            Action::Masquerade | Action::Snat | Action::Dnat | Action::Redirect
        )
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let chain = |w: &str| w.parse::<Name>();
        Ok(match words.as_slice() {
            ["accept"] => Action::Accept,
            ["drop"] => Action::Drop,
            ["reject"] => Action::Reject,
            ["return"] => Action::Return,
            ["jump", c] => Action::Jump(chain(c)?),
            ["goto", c] => Action::Goto(chain(c)?),
            ["masquerade"] => Action::Masquerade,
            ["snat"] => Action::Snat,
            ["dnat"] => Action::Dnat,
            ["redirect"] => Action::Redirect,
            _ => {
                return Err(format!(
                    "unknown action {s:?}; expected accept, drop, reject, return, \"jump CHAIN\", \
                     \"goto CHAIN\", masquerade, snat, dnat or redirect"
                ))
            }
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Action::Accept => f.write_str("accept"),
            Action::Drop => f.write_str("drop"),
            Action::Reject => f.write_str("reject"),
            Action::Return => f.write_str("return"),
            Action::Jump(c) => write!(f, "jump {c}"),
            Action::Goto(c) => write!(f, "goto {c}"),
            Action::Masquerade => f.write_str("masquerade"),
            Action::Snat => f.write_str("snat"),
            Action::Dnat => f.write_str("dnat"),
            Action::Redirect => f.write_str("redirect"),
        }
    }
}
string_serde!(
    Action,
    "an action such as accept, drop, reject or \"jump CHAIN\""
);

/// How `reject` answers. Without it: ICMP(v6) port unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectWith {
    TcpReset,
    PortUnreachable,
    AdminProhibited,
    HostUnreachable,
    NoRoute,
}

impl RejectWith {
    pub const ALL: [RejectWith; 5] = [
        RejectWith::TcpReset,
        RejectWith::PortUnreachable,
        RejectWith::AdminProhibited,
        RejectWith::HostUnreachable,
        RejectWith::NoRoute,
    ];
    /// The ICMPx code name nft uses, or None for a TCP reset.
    pub fn icmpx(self) -> Option<&'static str> {
        match self {
            RejectWith::TcpReset => None,
            RejectWith::PortUnreachable => Some("port-unreachable"),
            RejectWith::AdminProhibited => Some("admin-prohibited"),
            RejectWith::HostUnreachable => Some("host-unreachable"),
            RejectWith::NoRoute => Some("no-route"),
        }
    }
}

/// An IP protocol: a known name or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Protocol(pub u8);

impl Protocol {
    pub const ICMP: Protocol = Protocol(1);
    pub const TCP: Protocol = Protocol(6);
    pub const UDP: Protocol = Protocol(17);
    pub const ICMPV6: Protocol = Protocol(58);
    pub const SCTP: Protocol = Protocol(132);
    /// Config names, and the names nft prints (`ipv6-icmp`).
    const NAMES: [(&'static str, u8); 10] = [
        ("icmp", 1),
        ("tcp", 6),
        ("udp", 17),
        ("gre", 47),
        ("esp", 50),
        ("ah", 51),
        ("icmpv6", 58),
        ("ipv6-icmp", 58),
        ("sctp", 132),
        ("udplite", 136),
    ];
    /// Protocols with ports at the same place (`th dport` works for all of them).
    pub fn has_ports(self) -> bool {
        matches!(self.0, 6 | 17 | 132 | 136)
    }
    pub fn name(self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == self.0)
            .map(|(s, _)| *s)
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some((_, n)) = Self::NAMES.iter().find(|(name, _)| *name == s) {
            return Ok(Protocol(*n));
        }
        s.parse::<u8>().map(Protocol).map_err(|_| {
            format!(
                "unknown protocol {s:?}; expected tcp, udp, icmp, icmpv6, sctp, gre, esp, ah, \
                 udplite or a number 0..=255"
            )
        })
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => self.0.fmt(f),
        }
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Protocol;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a protocol name (tcp, udp, icmp, ...) or number")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Protocol, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Protocol, E> {
                u8::try_from(v).map(Protocol).map_err(|_| {
                    E::custom(format!("protocol {v} is out of range; expected 0..=255"))
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name() {
            Some(n) => s.serialize_str(n),
            None => s.serialize_u8(self.0),
        }
    }
}

/// A conntrack state, ordered as the kernel's bits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CtState {
    Invalid,
    Established,
    Related,
    New,
    Untracked,
}

impl CtState {
    pub fn word(self) -> &'static str {
        match self {
            CtState::Invalid => "invalid",
            CtState::Established => "established",
            CtState::Related => "related",
            CtState::New => "new",
            CtState::Untracked => "untracked",
        }
    }
    pub fn from_word(w: &str) -> Option<CtState> {
        [
            CtState::Invalid,
            CtState::Established,
            CtState::Related,
            CtState::New,
            CtState::Untracked,
        ]
        .into_iter()
        .find(|s| s.word() == w)
    }
}

/// ICMP type names nft knows, in the order of their numbers.
pub const ICMP_TYPES: [&str; 15] = [
    "echo-reply",
    "destination-unreachable",
    "source-quench",
    "redirect",
    "echo-request",
    "router-advertisement",
    "router-solicitation",
    "time-exceeded",
    "parameter-problem",
    "timestamp-request",
    "timestamp-reply",
    "info-request",
    "info-reply",
    "address-mask-request",
    "address-mask-reply",
];

/// ICMPv6 type names nft knows, in the order of their numbers.
pub const ICMPV6_TYPES: [&str; 18] = [
    "destination-unreachable",
    "packet-too-big",
    "time-exceeded",
    "parameter-problem",
    "echo-request",
    "echo-reply",
    "mld-listener-query",
    "mld-listener-report",
    "mld-listener-done",
    "nd-router-solicit",
    "nd-router-advert",
    "nd-neighbor-solicit",
    "nd-neighbor-advert",
    "nd-redirect",
    "router-renumbering",
    "ind-neighbor-solicit",
    "ind-neighbor-advert",
    "mld2-listener-report",
];

/// An ICMP or ICMPv6 type name; which of the two the rule's protocol says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(transparent)]
pub struct IcmpType(pub String);

/// A packet rate, `N/second|minute|hour|day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: u32,
    pub per: RateUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub fn word(self) -> &'static str {
        match self {
            RateUnit::Second => "second",
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
        }
    }
    pub fn from_word(w: &str) -> Option<RateUnit> {
        [
            RateUnit::Second,
            RateUnit::Minute,
            RateUnit::Hour,
            RateUnit::Day,
        ]
        .into_iter()
        .find(|u| u.word() == w)
    }
}

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("{s:?} is not a rate; expected packets per unit like \"10/second\" (units: second, minute, hour, day)")
        };
        let (n, unit) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        let per = RateUnit::from_word(unit.trim()).ok_or_else(bad)?;
        if count == 0 {
            return Err(format!("rate {s:?} lets nothing through; use drop instead"));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.per.word())
    }
}
string_serde!(Rate, "a rate like \"10/second\"");

/// `log = true` logs with no prefix; `log = "text"` logs with that prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Log {
    Plain,
    Prefix(String),
}

impl<'de> Deserialize<'de> for Log {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Option<Log>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, false, or a log prefix string")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Option<Log>, E> {
                Ok(b.then_some(Log::Plain))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<Log>, E> {
                check_text(s, 127, "log prefix").map_err(E::custom)?;
                Ok(Some(Log::Prefix(s.to_owned())))
            }
        }
        d.deserialize_any(V)?
            .ok_or_else(|| de::Error::custom("log = false is the same as leaving log out"))
    }
}

impl Serialize for Log {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Log::Plain => s.serialize_bool(true),
            Log::Prefix(p) => s.serialize_str(p),
        }
    }
}

/// Text nft stores in a quoted string: no quotes, no newlines, bounded length.
pub fn check_text(s: &str, max: usize, what: &str) -> Result<(), String> {
    if s.len() > max {
        return Err(format!("{what} is {} bytes long; at most {max}", s.len()));
    }
    if s.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(format!(
            "{what} {s:?} contains a quote, backslash or control character"
        ));
    }
    Ok(())
}

/// Where NAT sends packets: `ADDR`, `ADDR:PORT`, `[V6ADDR]:PORT`, or `:PORT` (redirect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatTarget {
    pub addr: Option<std::net::IpAddr>,
    pub port: Option<u16>,
}

impl NatTarget {
    pub fn family(&self) -> Option<Family> {
        self.addr.map(|a| Family::of_addr(&a))
    }
}

impl FromStr for NatTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a NAT target; expected ADDRESS, ADDRESS:PORT, [IPV6]:PORT or :PORT"
            )
        };
        let port = |p: &str| -> Result<u16, String> {
            match p.parse::<u16>() {
                Ok(0) | Err(_) => Err(format!("port {p:?} in {s:?} is not 1..=65535")),
                Ok(n) => Ok(n),
            }
        };
        if let Ok(a) = s.parse::<std::net::IpAddr>() {
            return Ok(NatTarget {
                addr: Some(a),
                port: None,
            });
        }
        if let Some(p) = s.strip_prefix(':') {
            return Ok(NatTarget {
                addr: None,
                port: Some(port(p)?),
            });
        }
        if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
            return Ok(NatTarget {
                addr: Some(sa.ip()),
                port: Some(port(&sa.port().to_string())?),
            });
        }
        Err(bad())
    }
}

impl fmt::Display for NatTarget {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match (self.addr, self.port) {
            (Some(a), None) => write!(f, "{a}"),
            (Some(a @ std::net::IpAddr::V4(_)), Some(p)) => write!(f, "{a}:{p}"),
            (Some(a), Some(p)) => write!(f, "[{a}]:{p}"),
            (None, Some(p)) => write!(f, ":{p}"),
            (None, None) => Ok(()),
        }
    }
}
string_serde!(NatTarget, "a NAT target like \"192.0.2.10:80\"");

/// What a named set holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SetKind {
    Ipv4,
    Ipv6,
    Port,
}

impl SetKind {
    pub fn family(self) -> Option<Family> {
        match self {
            SetKind::Ipv4 => Some(Family::Ipv4),
            SetKind::Ipv6 => Some(Family::Ipv6),
            SetKind::Port => None,
        }
    }
}
