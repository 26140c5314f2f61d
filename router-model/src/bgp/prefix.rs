//! Prefix patterns of allowed-prefix lists, as IRR tools (bgpq4) write them.

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;

/// A prefix and the lengths of it that match: `P` (exactly P), `P+` (P and every more
/// specific), `P{a,b}` (P's subnets of length a to b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrefixPattern {
    pub net: IpNet,
    pub min: u8,
    pub max: u8,
}

impl FromStr for PrefixPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (prefix, range) = match s.find(['+', '{']) {
            Some(i) => (&s[..i], Some(&s[i..])),
            None => (s, None),
        };
        if prefix.parse::<IpNet>().is_ok() {
            // Parses, but maybe with an octal-looking octet: refused with the reason.
            crate::types::parse_net(prefix)?;
        }
        let net: IpNet = prefix.parse().map_err(|_| {
            format!("{s:?} is not a prefix pattern; write \"192.0.2.0/24\", \"192.0.2.0/22+\" or \"192.0.2.0/22{{22,24}}\"")
        })?;
        if net.trunc() != net {
            return Err(format!(
                "{s:?} has host bits set; the prefix is {}",
                net.trunc()
            ));
        }
        let len = net.prefix_len();
        let (min, max) = match range {
            None => (len, len),
            Some("+") => (len, net.max_prefix_len()),
            Some(r) => {
                let inner = r
                    .strip_prefix('{')
                    .and_then(|r| r.strip_suffix('}'))
                    .and_then(|r| r.split_once(','))
                    .ok_or_else(|| format!("{s:?}: write the length range as {{MIN,MAX}}"))?;
                let n = |x: &str| {
                    x.trim()
                        .parse::<u8>()
                        .map_err(|_| format!("{s:?}: {x:?} is not a prefix length"))
                };
                (n(inner.0)?, n(inner.1)?)
            }
        };
        if min < len || min > max || max > net.max_prefix_len() {
            return Err(format!(
                "{s:?}: the lengths must satisfy {len} <= MIN <= MAX <= {}",
                net.max_prefix_len()
            ));
        }
        Ok(PrefixPattern { net, min, max })
    }
}

impl fmt::Display for PrefixPattern {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let len = self.net.prefix_len();
        if self.min == len && self.max == len {
            write!(f, "{}", self.net)
        } else if self.min == len && self.max == self.net.max_prefix_len() {
            write!(f, "{}+", self.net)
        } else {
            write!(f, "{}{{{},{}}}", self.net, self.min, self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_and_print_canonically() {
        for (text, want) in [
            ("192.0.2.0/24", "192.0.2.0/24"),
            ("192.0.0.0/22+", "192.0.0.0/22+"),
            ("192.0.0.0/22{22,32}", "192.0.0.0/22+"),
            ("192.0.0.0/22{23,24}", "192.0.0.0/22{23,24}"),
            ("2001:db8::/32{32,48}", "2001:db8::/32{32,48}"),
        ] {
            let p: PrefixPattern = text.parse().expect(text);
            assert_eq!(p.to_string(), want);
        }
        for bad in [
            "192.0.2.1/24",
            "192.0.2.0/24{23,24}",
            "192.0.2.0/24{25,24}",
            "192.0.2.0/24{24,33}",
            "192.0.2.0/24{24}",
            "nonsense",
        ] {
            assert!(bad.parse::<PrefixPattern>().is_err(), "{bad} parsed");
        }
    }
}
