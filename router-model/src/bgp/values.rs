//! BGP scalar values, each parsed and checked while deserializing.

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::types::{check_identifier, string_serde};

/// An autonomous system number, written as a TOML integer (`64500`) or a string
/// (`"AS64500"`, `"64500"`).
///
/// Accepted: 1..=4294967294 except 23456. Rejected: 0 (RFC 7607: never valid in a
/// session), 23456 (AS_TRANS, RFC 6793: a placeholder for 4-byte ASNs, never a real
/// AS), 4294967295 (reserved, RFC 7300), and anything outside 32 bits. Private and
/// documentation ASNs are accepted: labs and IXP route servers use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Asn(u32);

impl Asn {
    pub const TRANS: u32 = 23456;

    pub fn new(v: i64) -> Result<Asn, String> {
        match u32::try_from(v) {
            Ok(0) => Err("ASN 0 is reserved (RFC 7607) and never valid in a BGP session".into()),
            Ok(Asn::TRANS) => Err(
                "ASN 23456 is AS_TRANS (RFC 6793), a placeholder for 4-byte ASNs; write the real ASN"
                    .into(),
            ),
            Ok(u32::MAX) => Err("ASN 4294967295 is reserved (RFC 7300)".into()),
            Ok(v) => Ok(Asn(v)),
            Err(_) => Err(format!(
                "ASN {v} is out of range; expected 1..=4294967294"
            )),
        }
    }
    pub fn get(self) -> u32 {
        self.0
    }
    /// Fits in a standard (RFC 1997) community's 16-bit half.
    pub fn is_16bit(self) -> bool {
        self.0 <= u32::from(u16::MAX)
    }
}

impl FromStr for Asn {
    type Err = String;
    fn from_str(s: &str) -> Result<Asn, String> {
        let digits = s
            .strip_prefix("AS")
            .or_else(|| s.strip_prefix("as"))
            .unwrap_or(s);
        let v: i64 = digits.parse().map_err(|_| {
            format!("{s:?} is not an ASN; write a number like 64500 or \"AS64500\"")
        })?;
        Asn::new(v)
    }
}

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Asn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Asn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Asn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an ASN: a number like 64500 or a string like \"AS64500\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Asn, E> {
                Asn::new(v).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Asn, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A peer's or policy's name: it becomes part of BIRD protocol and filter names, so
/// letters, digits and '_' only, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BgpName(String);

impl BgpName {
    /// BIRD caps symbol names at 64 bytes; the agent adds prefixes of up to 10.
    pub const MAX_LEN: usize = 48;
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BgpName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        check_identifier(s, Self::MAX_LEN).map(|()| BgpName(s.to_owned()))
    }
}

impl fmt::Display for BgpName {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(BgpName, "a name (a letter, then letters, digits or '_')");

/// A file beside the config holding a list (IRR-derived prefixes or origins): a bare
/// name, the same in a directory and in a store (`store::FileName`'s rule).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListFile(String);

impl ListFile {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ListFile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = (1..=64).contains(&s.len())
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if ok {
            Ok(ListFile(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a list file name; write a name beside the config (1 to 64 of \
                 A-Z a-z 0-9 . _ -, not starting with '.'), e.g. \"as64501.prefixes\""
            ))
        }
    }
}

impl fmt::Display for ListFile {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(ListFile, "a file name beside the config");

/// A standard community (RFC 1997), written `"65535:666"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Community(pub u16, pub u16);

impl Community {
    /// RFC 7999.
    pub const BLACKHOLE: Community = Community(65535, 666);
    /// RFC 8326.
    pub const GRACEFUL_SHUTDOWN: Community = Community(65535, 0);
}

impl FromStr for Community {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("{s:?} is not a community; write two 16-bit numbers like \"65535:666\"");
        let (a, b) = s.split_once(':').ok_or_else(bad)?;
        Ok(Community(
            a.parse().map_err(|_| bad())?,
            b.parse().map_err(|_| bad())?,
        ))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}
string_serde!(Community, "a community like \"65535:666\"");

/// A large community (RFC 8092), written `"64500:1:64501"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

impl FromStr for LargeCommunity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a large community; write three 32-bit numbers like \"64500:0:64501\""
            )
        };
        let parts: Vec<&str> = s.split(':').collect();
        let [a, b, c] = parts.as_slice() else {
            return Err(bad());
        };
        let n = |x: &str| x.parse::<u32>().map_err(|_| bad());
        Ok(LargeCommunity(n(a)?, n(b)?, n(c)?))
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0, self.1, self.2)
    }
}
string_serde!(LargeCommunity, "a large community like \"64500:0:64501\"");

/// BGP ADD-PATH (RFC 7911) in the peer's direction: receive, send, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddPath {
    Rx,
    Tx,
    Both,
}

impl AddPath {
    pub fn bird(self) -> &'static str {
        match self {
            AddPath::Rx => "rx",
            AddPath::Tx => "tx",
            AddPath::Both => "on",
        }
    }
}

/// What BIRD does when a peer sends more prefixes than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MaxPrefixAction {
    /// Log only.
    Warn,
    /// Drop the routes above the limit, keep the session.
    Block,
    /// Close the session and open it again.
    Restart,
    /// Close the session until an operator enables it (`birdc enable`).
    #[default]
    Disable,
}

impl MaxPrefixAction {
    pub fn is_default(&self) -> bool {
        *self == MaxPrefixAction::Disable
    }
    pub fn bird(self) -> &'static str {
        match self {
            MaxPrefixAction::Warn => "warn",
            MaxPrefixAction::Block => "block",
            MaxPrefixAction::Restart => "restart",
            MaxPrefixAction::Disable => "disable",
        }
    }
}

/// What the import policy does with an RPKI-invalid route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RpkiAction {
    /// No origin validation.
    #[default]
    Off,
    /// Validate and tag the outcome (valid, unknown, invalid); filter nothing.
    Tag,
    /// Invalid routes are filtered (reason 13).
    RejectInvalid,
}

impl RpkiAction {
    pub fn is_off(&self) -> bool {
        *self == RpkiAction::Off
    }
}

/// A list written as a TOML array or as one text block (one or more entries a line,
/// separated by whitespace or commas; commas inside `{..}` belong to the entry), for
/// IRR-generated lists of thousands of entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Words(pub Vec<String>);

impl Words {
    fn split(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut depth = 0u32;
        for c in s.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth == 0 && (c.is_whitespace() || c == ',') {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            } else {
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }
}

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Words;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array, or a string of entries separated by whitespace")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Words, E> {
                Ok(Words(Words::split(s)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Words, E> {
                Ok(Words(vec![v.to_string()]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Words, A::Error> {
                let mut out = Vec::new();
                while let Some(e) = seq.next_element::<toml::Value>()? {
                    match e {
                        toml::Value::String(s) => out.push(s),
                        toml::Value::Integer(i) => out.push(i.to_string()),
                        other => {
                            return Err(de::Error::custom(format!(
                                "{other} is neither a string nor a number"
                            )))
                        }
                    }
                }
                Ok(Words(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Words {
    /// Short lists as an array; long ones as a text block, eight entries a line.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.len() <= 8 {
            // ASNs read best as numbers.
            return s.collect_seq(self.0.iter().map(|w| match w.parse::<u32>() {
                Ok(n) => toml::Value::Integer(n.into()),
                Err(_) => toml::Value::String(w.clone()),
            }));
        }
        let mut text = String::from("\n");
        for chunk in self.0.chunks(8) {
            text.push_str(&chunk.join(" "));
            text.push('\n');
        }
        s.serialize_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn_bounds() {
        assert!(Asn::new(0).is_err());
        assert!(Asn::new(23456).is_err());
        assert!(Asn::new(4_294_967_295).is_err());
        assert!(Asn::new(-1).is_err());
        assert!(Asn::new(1 << 33).is_err());
        assert_eq!(Asn::new(64500).map(Asn::get), Ok(64500));
        assert_eq!(Asn::new(4_200_000_000).map(Asn::get), Ok(4_200_000_000));
        assert_eq!("AS65000".parse::<Asn>().map(Asn::get), Ok(65000));
        assert!("AS".parse::<Asn>().is_err());
        assert!(Asn::new(65535).expect("16-bit").is_16bit());
        assert!(!Asn::new(65536).expect("32-bit").is_16bit());
    }

    #[test]
    fn communities() {
        assert_eq!("65535:666".parse(), Ok(Community::BLACKHOLE));
        assert!("65536:1".parse::<Community>().is_err());
        assert!("1".parse::<Community>().is_err());
        assert_eq!(
            "64500:0:4200000000".parse(),
            Ok(LargeCommunity(64500, 0, 4_200_000_000))
        );
        assert!("1:2".parse::<LargeCommunity>().is_err());
        assert!("1:2:3:4".parse::<LargeCommunity>().is_err());
    }

    #[test]
    fn words_keep_braces_together() {
        assert_eq!(
            Words::split("192.0.2.0/22{22,24}, 198.51.100.0/24\n 10.0.0.0/8+"),
            ["192.0.2.0/22{22,24}", "198.51.100.0/24", "10.0.0.0/8+"]
        );
    }

    #[test]
    fn list_file_names() {
        assert!("as64501.prefixes".parse::<ListFile>().is_ok());
        for bad in ["", ".hidden", "../x", "a/b", "a b"] {
            assert!(bad.parse::<ListFile>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        assert!("as64501_a".parse::<BgpName>().is_ok());
        assert!("1peer".parse::<BgpName>().is_err());
        assert!("a-b".parse::<BgpName>().is_err());
        assert!("a".repeat(49).parse::<BgpName>().is_err());
    }
}
