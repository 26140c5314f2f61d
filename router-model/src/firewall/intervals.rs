//! Address and port lists in one canonical form: sorted, overlapping and adjacent entries
//! merged. nft merges the elements of anonymous sets the same way, so a list the kernel
//! hands back compares equal to the list the config gave, whatever way it was written.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::Family;

/// Lists longer than this are written as a text block, one entry per line.
const INLINE_MAX: usize = 16;

/// Sorts and merges closed intervals, joining those that overlap or touch.
fn merge<T: Copy + Ord>(mut v: Vec<(T, T)>, next: impl Fn(T) -> Option<T>) -> Vec<(T, T)> {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if next(last.1).is_none_or(|n| lo <= n) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// A set of IPv4 or IPv6 addresses, as merged intervals.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddrList {
    pub family: Family,
    intervals: Vec<(u128, u128)>,
}

fn bits(f: Family) -> u32 {
    match f {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    }
}

fn to_num(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a).into(),
        IpAddr::V6(a) => a.into(),
    }
}

fn to_addr(f: Family, n: u128) -> IpAddr {
    match f {
        // An IPv4 interval never holds a number above u32::MAX.
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::from(n as u32)),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// Host bits below a prefix of `len` in a `bits`-wide address.
fn host_mask(bits: u32, len: u32) -> u128 {
    let host = bits - len;
    if host == 128 {
        u128::MAX
    } else {
        (1u128 << host) - 1
    }
}

/// One list entry: an address, a prefix or a range, as (family, first, last).
pub fn parse_addr_entry(s: &str) -> Result<(Family, u128, u128), String> {
    if let Some((a, b)) = s.split_once('-') {
        let (a, b): (IpAddr, IpAddr) = match (a.trim().parse(), b.trim().parse()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => {
                return Err(format!(
                    "{s:?} is not an address range like 10.0.0.1-10.0.0.9"
                ))
            }
        };
        let f = Family::of_addr(&a);
        if f != Family::of_addr(&b) {
            return Err(format!("range {s:?} mixes IPv4 and IPv6"));
        }
        let (lo, hi) = (to_num(a), to_num(b));
        if lo > hi {
            return Err(format!("range {s:?} ends before it starts"));
        }
        return Ok((f, lo, hi));
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        let n = to_num(a);
        return Ok((Family::of_addr(&a), n, n));
    }
    match s.parse::<ipnet::IpNet>() {
        Ok(net) => {
            let f = Family::of(&net);
            if net.addr() != net.network() {
                return Err(format!(
                    "{s:?} has host bits set; the prefix is {}",
                    net.trunc()
                ));
            }
            let lo = to_num(net.network());
            Ok((f, lo, lo | host_mask(bits(f), u32::from(net.prefix_len()))))
        }
        Err(_) => Err(format!(
            "{s:?} is not an address, prefix (192.0.2.0/24) or range (10.0.0.1-10.0.0.9)"
        )),
    }
}

impl AddrList {
    /// From (first, last) pairs of one family.
    pub fn from_intervals(family: Family, v: Vec<(u128, u128)>) -> AddrList {
        let max = host_mask(bits(family), 0);
        AddrList {
            family,
            intervals: merge(v, |n| (n < max).then(|| n + 1)),
        }
    }

    /// Parses entries that must all be of one family; `what` names the list in errors.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<AddrList, String> {
        let mut family = None;
        let mut v = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let (f, lo, hi) = parse_addr_entry(e).map_err(|m| format!("entry #{}: {m}", i + 1))?;
            match family {
                None => family = Some(f),
                Some(g) if g != f => {
                    return Err(format!(
                        "entry #{} {e:?} is {} but the list is {}; one list holds one family (split the rule in two)",
                        i + 1,
                        word(f),
                        word(g)
                    ))
                }
                _ => {}
            }
            v.push((lo, hi));
        }
        let family = family.ok_or("the list is empty")?;
        Ok(AddrList::from_intervals(family, v))
    }

    pub fn len(&self) -> usize {
        self.intervals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// The list as the fewest prefixes that cover it exactly, in order.
    pub fn prefixes(&self) -> Vec<(IpAddr, u8)> {
        let w = bits(self.family);
        let mut out = Vec::with_capacity(self.intervals.len());
        for &(mut lo, hi) in &self.intervals {
            loop {
                let mut host = if lo == 0 {
                    w
                } else {
                    lo.trailing_zeros().min(w)
                };
                while lo | host_mask(w, w - host) > hi {
                    host -= 1;
                }
                let end = lo | host_mask(w, w - host);
                // Prefix lengths are at most 128.
                out.push((to_addr(self.family, lo), (w - host) as u8));
                if end >= hi {
                    break;
                }
                lo = end + 1;
            }
        }
        out
    }

    /// The entries as text: addresses bare, prefixes with their length.
    pub fn entries(&self) -> Vec<String> {
        let full = bits(self.family) as u8;
        self.prefixes()
            .into_iter()
            .map(|(a, len)| {
                if len == full {
                    a.to_string()
                } else {
                    format!("{a}/{len}")
                }
            })
            .collect()
    }
}

fn word(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

/// Ports and port ranges, as merged intervals.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortList(Vec<(u16, u16)>);

pub fn parse_port_entry(s: &str) -> Result<(u16, u16), String> {
    let port = |p: &str| match p.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("port {p:?} is out of range; expected 1..=65535")),
        Ok(n) => Ok(n),
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                return Err(format!("port range {s:?} ends before it starts"));
            }
            Ok((a, b))
        }
        None => port(s).map(|p| (p, p)),
    }
}

impl PortList {
    pub fn from_intervals(v: Vec<(u16, u16)>) -> PortList {
        PortList(merge(v, |n| n.checked_add(1)))
    }

    pub fn intervals(&self) -> &[(u16, u16)] {
        &self.0
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(|&(a, b)| port_text(a, b)).collect()
    }
}

pub fn port_text(a: u16, b: u16) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

/// The entries of a list as written: an array of strings or numbers, or one string of
/// entries separated by whitespace or commas (a text block for long lists).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entries(pub Vec<String>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of entries, or a string of entries separated by whitespace")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Entries, E> {
                Ok(Entries(
                    s.split(|c: char| c.is_whitespace() || c == ',')
                        .filter(|e| !e.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Entries, E> {
                Ok(Entries(vec![v.to_string()]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Entries, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(e) = seq.next_element::<Entry>()? {
                    out.push(e.0);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One array element: a string or an integer.
struct Entry(String);

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Entry, E> {
                Ok(Entry(s.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Entry, E> {
                Ok(Entry(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Entries {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.len() <= INLINE_MAX {
            // Plain port numbers read best as numbers.
            s.collect_seq(self.0.iter().map(|e| match e.parse::<u16>() {
                Ok(n) => EntryOut::Num(n),
                Err(_) => EntryOut::Text(e),
            }))
        } else {
            let mut text = String::with_capacity(self.0.len() * 20);
            for e in &self.0 {
                text.push_str(e);
                text.push('\n');
            }
            s.serialize_str(&text)
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum EntryOut<'a> {
    Num(u16),
    Text(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_prefixes_merge_and_split_back_into_prefixes() {
        let l = AddrList::parse(["10.2.0.0/16", "10.1.0.0/16", "10.1.3.4"]).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l.entries(), ["10.1.0.0/16", "10.2.0.0/16"]);
        let r = AddrList::parse(["10.1.0.0-10.2.255.255"]).unwrap();
        assert_eq!(r.entries(), ["10.1.0.0/16", "10.2.0.0/16"]);
        let all = AddrList::parse(["::/0", "2001:db8::1"]).unwrap();
        assert_eq!(all.entries(), ["::/0"]);
        let v4all = AddrList::parse(["0.0.0.0/0"]).unwrap();
        assert_eq!(v4all.entries(), ["0.0.0.0/0"]);
    }

    #[test]
    fn lists_reject_mixed_families_and_host_bits() {
        assert!(AddrList::parse(["10.0.0.0/8", "2001:db8::/32"])
            .unwrap_err()
            .contains("one family"));
        assert!(AddrList::parse(["10.0.0.1/8"])
            .unwrap_err()
            .contains("10.0.0.0/8"));
    }

    #[test]
    fn ports_merge() {
        let v = ["22", "80", "81", "1000-2000", "1500-2500"]
            .iter()
            .map(|s| parse_port_entry(s).unwrap())
            .collect();
        assert_eq!(
            PortList::from_intervals(v).entries(),
            ["22", "80-81", "1000-2500"]
        );
        assert!(parse_port_entry("0").is_err());
        assert!(parse_port_entry("70000").is_err());
    }
}
