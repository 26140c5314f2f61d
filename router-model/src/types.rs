//! Validated scalar types. Each one rejects bad values while parsing, so a
//! config that deserializes never carries an out-of-range number or a bad name.

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Implements `Deserialize`/`Serialize` through `FromStr`/`Display` for string-typed values.
macro_rules! string_serde {
    ($ty:ty, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
pub(crate) use string_serde;

/// A name nft and BIRD both take as an identifier: a letter, then letters, digits or '_',
/// at most `max` bytes.
pub(crate) fn check_identifier(s: &str, max: usize) -> Result<(), String> {
    let ok_start = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if ok_start && s.len() <= max && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid name; use a letter, then letters, digits or '_' (at most {max} bytes)"
        ))
    }
}

/// A Linux interface name: 1..=15 bytes (IFNAMSIZ with its NUL), no '/', ':', whitespace or
/// control characters, not ".", "..", "all" or "default".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfName(std::sync::Arc<str>);

impl IfName {
    pub const MAX_LEN: usize = 15;
    /// Names the kernel refuses for a link.
    pub const RESERVED: [&'static str; 2] = ["all", "default"];
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IfName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(format!(
                "interface name {s:?} must be 1 to {} bytes long",
                Self::MAX_LEN
            ));
        }
        if s == "." || s == ".." {
            return Err(format!("{s:?} is not a valid interface name"));
        }
        // The kernel refuses them: they name the per-family defaults in /proc/sys/net/*/conf.
        if Self::RESERVED.contains(&s) {
            return Err(format!(
                "interface name {s:?} is reserved by the kernel (/proc/sys/net/ipv4/conf/{s}); pick another name"
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "interface name {s:?} contains {c:?}; use letters, digits, '-', '_' or '.'"
            ));
        }
        Ok(IfName(s.into()))
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(
    IfName,
    "an interface name (1 to 15 bytes, no '/', ':' or spaces)"
);

/// An Ethernet MAC address, written `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("{s:?} is not a MAC address; expected six hex pairs like 52:54:00:12:34:56");
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}
string_serde!(MacAddr, "a MAC address like 52:54:00:12:34:56");

/// Defines a bounded integer newtype whose `Deserialize` rejects out-of-range values.
macro_rules! bounded_int {
    ($(#[$m:meta])* $name:ident, $inner:ty, $min:expr, $max:expr, $what:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name($inner);

        impl $name {
            pub const MIN: $inner = $min;
            pub const MAX: $inner = $max;
            pub fn new(v: $inner) -> Result<Self, String> {
                if (Self::MIN..=Self::MAX).contains(&v) {
                    Ok($name(v))
                } else {
                    Err(format!(
                        "{} {v} is out of range; expected {}..={}",
                        $what, Self::MIN, Self::MAX
                    ))
                }
            }
            pub fn get(self) -> $inner {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = i64::deserialize(d)?;
                let v = <$inner>::try_from(v).map_err(|_| {
                    de::Error::custom(format!(
                        "{} {v} is out of range; expected {}..={}",
                        $what, $name::MIN, $name::MAX
                    ))
                })?;
                $name::new(v).map_err(de::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

bounded_int!(
    /// An 802.1Q/802.1ad VLAN id; 0 and 4095 are reserved.
    VlanId, u16, 1, 4094, "VLAN id"
);
bounded_int!(
    /// A link MTU. 68 is the IPv4 minimum; 65535 covers jumbo and loopback frames.
    Mtu, u32, 68, 65536, "MTU"
);
bounded_int!(
    /// A multipath next-hop weight (the kernel stores weight - 1 in a byte).
    Weight, u16, 1, 256, "next-hop weight"
);
bounded_int!(
    /// A policy rule priority.
    RulePriority, u32, 0, u32::MAX, "rule priority"
);
bounded_int!(
    /// A route metric (priority).
    Metric, u32, 0, u32::MAX, "metric"
);

/// A routing table: a number, or `main`, `local`, `default`, or a name declared in `[tables]`.
/// The name is resolved to a number during validation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TableRef {
    Id(u32),
    Name(String),
}

impl TableRef {
    pub const MAIN: u32 = 254;
    pub const LOCAL: u32 = 255;
    pub const DEFAULT: u32 = 253;

    /// The number of a built-in table name.
    pub fn builtin(name: &str) -> Option<u32> {
        match name {
            "main" => Some(Self::MAIN),
            "local" => Some(Self::LOCAL),
            "default" => Some(Self::DEFAULT),
            _ => None,
        }
    }

    /// How a table number is written back: built-in names for the built-in tables.
    pub fn for_id(id: u32) -> TableRef {
        match id {
            Self::MAIN => TableRef::Name("main".into()),
            Self::LOCAL => TableRef::Name("local".into()),
            Self::DEFAULT => TableRef::Name("default".into()),
            n => TableRef::Id(n),
        }
    }
}

impl<'de> Deserialize<'de> for TableRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = TableRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table number (1..=4294967295) or a table name")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TableRef, E> {
                match u32::try_from(v) {
                    Ok(n) if n > 0 => Ok(TableRef::Id(n)),
                    _ => Err(E::custom(format!(
                        "table {v} is out of range; expected 1..=4294967295"
                    ))),
                }
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<TableRef, E> {
                if s.is_empty()
                    || !s
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(E::custom(format!(
                        "table name {s:?} must be letters, digits, '-' or '_'"
                    )));
                }
                Ok(TableRef::Name(s.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for TableRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TableRef::Id(n) => s.serialize_u32(*n),
            TableRef::Name(n) => s.serialize_str(n),
        }
    }
}

/// A firewall mark with an optional mask: `16`, `"0x10"` or `"0x10/0xff"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fwmark {
    pub value: u32,
    pub mask: Option<u32>,
}

fn parse_u32(s: &str) -> Result<u32, std::num::ParseIntError> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    }
}

impl FromStr for Fwmark {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |_| format!("{s:?} is not a fwmark; expected a number or \"0xVALUE/0xMASK\"");
        let (v, m) = match s.split_once('/') {
            Some((v, m)) => (v, Some(m)),
            None => (s, None),
        };
        Ok(Fwmark {
            value: parse_u32(v.trim()).map_err(bad)?,
            mask: m.map(|m| parse_u32(m.trim())).transpose().map_err(bad)?,
        })
    }
}

impl fmt::Display for Fwmark {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{:#x}", self.value)?;
        if let Some(m) = self.mask {
            write!(f, "/{m:#x}")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Fwmark {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Fwmark;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a fwmark: a number or \"0xVALUE/0xMASK\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Fwmark, E> {
                u32::try_from(v)
                    .map(|value| Fwmark { value, mask: None })
                    .map_err(|_| E::custom(format!("fwmark {v} does not fit in 32 bits")))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Fwmark, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Fwmark {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_limits() {
        assert!("eth0".parse::<IfName>().is_ok());
        assert!("a234567890abcde".parse::<IfName>().is_ok());
        assert!("a234567890abcdef".parse::<IfName>().is_err());
        assert!("".parse::<IfName>().is_err());
        assert!("a/b".parse::<IfName>().is_err());
        assert!("a b".parse::<IfName>().is_err());
        assert!("..".parse::<IfName>().is_err());
        assert!("all".parse::<IfName>().is_err());
        assert!("default".parse::<IfName>().is_err());
        assert!("all0".parse::<IfName>().is_ok());
    }

    #[test]
    fn prefixes_with_octal_looking_octets_are_refused() {
        for s in [
            "010.8.0.1/24",
            "10.08.0.0/16",
            "::ffff:010.0.0.1/128",
            "192.168.001.0/24",
        ] {
            let e = parse_net(s).unwrap_err();
            assert!(e.contains("octal"), "{s}: {e}");
        }
        for s in [
            "10.8.0.1/24",
            "0.0.0.0/0",
            "10.0.0.0/08",
            "2001:db8:0:01::/64",
            "::/0",
        ] {
            assert!(parse_net(s).is_ok(), "{s}");
        }
        assert!(parse_net("010.8.0.1/24")
            .unwrap_err()
            .ends_with("write 10.8.0.1/24"));
    }

    #[test]
    fn descriptions_fit_ifaliasz() {
        assert!(check_description(&"d".repeat(255)).is_ok());
        assert!(check_description(&"d".repeat(256)).is_err());
        assert!(check_description("a\0b").is_err());
        assert!(check_description("uplink, 10G").is_ok());
    }

    #[test]
    fn mac_parse_and_display() {
        let m: MacAddr = "52:54:00:AB:cd:0f".parse().unwrap();
        assert_eq!(m.to_string(), "52:54:00:ab:cd:0f");
        assert!("52:54:00:ab:cd".parse::<MacAddr>().is_err());
        assert!("52:54:00:ab:cd:0f:00".parse::<MacAddr>().is_err());
        assert!("5254.00ab.cd0f".parse::<MacAddr>().is_err());
    }

    #[test]
    fn bounded_ranges() {
        assert!(VlanId::new(0).is_err());
        assert!(VlanId::new(4095).is_err());
        assert!(VlanId::new(4094).is_ok());
        assert!(Mtu::new(67).is_err());
        assert!(Weight::new(0).is_err());
        assert!(Weight::new(257).is_err());
    }

    #[test]
    fn fwmark_forms() {
        assert_eq!(
            "0x10/0xff".parse::<Fwmark>().unwrap(),
            Fwmark {
                value: 16,
                mask: Some(255)
            }
        );
        assert_eq!(
            "16".parse::<Fwmark>().unwrap(),
            Fwmark {
                value: 16,
                mask: None
            }
        );
        assert!("0xzz".parse::<Fwmark>().is_err());
    }
}

/// An interface description, as the kernel keeps it (IFLA_IFALIAS): at most 255 bytes
/// (IFALIASZ with its NUL), no NUL inside.
pub(crate) fn check_description(s: &str) -> Result<(), String> {
    const MAX: usize = 255;
    if s.len() > MAX {
        return Err(format!(
            "the description is {} bytes long; the kernel keeps at most {MAX} (IFALIASZ)",
            s.len()
        ));
    }
    if s.contains('\0') {
        return Err(
            "the description contains a NUL character, which the kernel cannot keep".into(),
        );
    }
    Ok(())
}

/// `deserialize_with` for `description`: [`check_description`] at the value's position.
pub(crate) fn deserialize_description<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    check_description(&s).map_err(de::Error::custom)?;
    Ok(Some(s))
}

/// A prefix (`192.0.2.0/24`, `2001:db8::/32`), refusing IPv4 octets with a leading zero:
/// `ipnet` reads `010.0.0.0/8` as 10.0.0.0/8, while inet_aton and the tools built on it
/// read 010 as octal 8. Such a config means two things; it is refused.
pub fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let addr = s.split('/').next().unwrap_or(s);
    // The dotted part of an IPv4 address or of an IPv6 one ending in IPv4 (::ffff:a.b.c.d).
    let dotted = addr.rsplit(':').next().unwrap_or(addr);
    let octal =
        dotted.contains('.') && dotted.split('.').any(|o| o.len() > 1 && o.starts_with('0'));
    let net = s
        .parse::<ipnet::IpNet>()
        .map_err(|e| format!("{s:?} is not a prefix like 192.0.2.0/24: {e}"))?;
    if octal {
        return Err(format!(
            "{s:?} has an IPv4 part with a leading zero, which inet_aton and the tools built on it read as octal; write {net}"
        ));
    }
    Ok(net)
}

/// A prefix parsed by [`parse_net`], for the `deserialize_with` helpers below.
struct StrictNet(ipnet::IpNet);

impl FromStr for StrictNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_net(s).map(StrictNet)
    }
}

impl fmt::Display for StrictNet {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.fmt(f)
    }
}
// Through a visitor, so that the error carries the position of the string itself.
string_serde!(StrictNet, "a prefix like 192.0.2.0/24");

/// `deserialize_with` for an optional prefix (a field with `default`).
pub(crate) fn deserialize_net<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<ipnet::IpNet>, D::Error> {
    StrictNet::deserialize(d).map(|n| Some(n.0))
}

/// `deserialize_with` for a list of prefixes.
pub(crate) fn deserialize_nets<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ipnet::IpNet>, D::Error> {
    Vec::<StrictNet>::deserialize(d).map(|v| v.into_iter().map(|n| n.0).collect())
}
