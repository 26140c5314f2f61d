//! Policy rule messages (`fib_rule_hdr`), by hand.

use ipnet::IpNet;

use super::netlink::{attrs, ip_bytes, parse_ip, put_attr, Request, NLM_F_CREATE, NLM_F_EXCL};
use super::{OWNED_RULE_PROTOCOLS, PROTOCOL};
use crate::model::{Family, Fwmark, IfName, Rule, RuleAction};

pub const RTM_NEWRULE: u16 = 32;
pub const RTM_DELRULE: u16 = 33;
pub const RTM_GETRULE: u16 = 34;

const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_SUPPRESS_IFGROUP: u16 = 13;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_OIFNAME: u16 = 17;
const FRA_PAD: u16 = 18;
const FRA_PROTOCOL: u16 = 21;

const FR_ACT_TO_TBL: u8 = 1;
const FR_ACT_BLACKHOLE: u8 = 6;
const FR_ACT_UNREACHABLE: u8 = 7;
const FR_ACT_PROHIBIT: u8 = 8;

fn family_code(f: Family) -> u8 {
    match f {
        Family::Ipv4 => 2,
        Family::Ipv6 => 10,
    }
}

fn encode(r: &Rule, protocol: Option<u8>) -> Vec<u8> {
    let action = match r.action {
        RuleAction::Lookup => FR_ACT_TO_TBL,
        RuleAction::Blackhole => FR_ACT_BLACKHOLE,
        RuleAction::Unreachable => FR_ACT_UNREACHABLE,
        RuleAction::Prohibit => FR_ACT_PROHIBIT,
    };
    let dst_len = r.to.map_or(0, |n| n.prefix_len());
    let src_len = r.from.map_or(0, |n| n.prefix_len());
    let table8 = u8::try_from(r.table).unwrap_or(0);
    let mut p = vec![
        family_code(r.family),
        dst_len,
        src_len,
        0,
        table8,
        0,
        0,
        action,
    ];
    p.extend_from_slice(&0u32.to_ne_bytes());
    put_attr(&mut p, FRA_PRIORITY, &r.priority.to_ne_bytes());
    if let Some(n) = r.to {
        put_attr(&mut p, FRA_DST, &ip_bytes(&n.network()));
    }
    if let Some(n) = r.from {
        put_attr(&mut p, FRA_SRC, &ip_bytes(&n.network()));
    }
    for (kind, name) in [(FRA_IIFNAME, &r.iif), (FRA_OIFNAME, &r.oif)] {
        if let Some(n) = name {
            let mut v = n.as_str().as_bytes().to_vec();
            v.push(0);
            put_attr(&mut p, kind, &v);
        }
    }
    if let Some(m) = r.fwmark {
        put_attr(&mut p, FRA_FWMARK, &m.value.to_ne_bytes());
        put_attr(
            &mut p,
            FRA_FWMASK,
            &m.mask.unwrap_or(u32::MAX).to_ne_bytes(),
        );
    }
    if r.action == RuleAction::Lookup {
        put_attr(&mut p, FRA_TABLE, &r.table.to_ne_bytes());
    }
    if let Some(proto) = protocol {
        put_attr(&mut p, FRA_PROTOCOL, &[proto]);
    }
    p
}

pub fn new_rule(r: &Rule) -> Request {
    Request {
        kind: RTM_NEWRULE,
        flags: NLM_F_CREATE | NLM_F_EXCL,
        payload: encode(r, Some(PROTOCOL)),
    }
}

/// Deletes the rule matching every attribute of `r`, whichever protocol added it.
pub fn del_rule(r: &Rule) -> Request {
    Request {
        kind: RTM_DELRULE,
        flags: 0,
        payload: encode(r, None),
    }
}

pub fn dump_request(family: Family) -> Request {
    let mut p = vec![family_code(family), 0, 0, 0, 0, 0, 0, 0];
    p.extend_from_slice(&0u32.to_ne_bytes());
    Request {
        kind: RTM_GETRULE,
        flags: 0,
        payload: p,
    }
}

/// A dumped rule the config owns: one of the owned protocols, using only what the model
/// covers (no goto, uid ranges, ports, l3mdev...).
pub fn decode(p: &[u8]) -> Option<Rule> {
    if p.len() < 12 {
        return None;
    }
    let family = match p[0] {
        2 => Family::Ipv4,
        10 => Family::Ipv6,
        _ => return None,
    };
    let (dst_len, src_len, tos, table8, action) = (p[1], p[2], p[3], p[4], p[7]);
    let action = match action {
        FR_ACT_TO_TBL => RuleAction::Lookup,
        FR_ACT_BLACKHOLE => RuleAction::Blackhole,
        FR_ACT_UNREACHABLE => RuleAction::Unreachable,
        FR_ACT_PROHIBIT => RuleAction::Prohibit,
        _ => return None,
    };
    if tos != 0 {
        return None;
    }
    let u32_of = |v: &[u8]| <[u8; 4]>::try_from(v).ok().map(u32::from_ne_bytes);
    let name_of = |v: &[u8]| {
        String::from_utf8_lossy(v)
            .trim_end_matches('\0')
            .parse::<IfName>()
            .ok()
    };
    let net = |v: &[u8], len: u8| IpNet::new(parse_ip(v)?, len).ok();
    let mut rule = Rule {
        priority: 0,
        family,
        from: None,
        to: None,
        iif: None,
        oif: None,
        fwmark: None,
        action,
        table: if action == RuleAction::Lookup {
            u32::from(table8)
        } else {
            0
        },
    };
    let (mut proto, mut mark, mut mask) = (0, None, None);
    for (t, v) in attrs(&p[12..]) {
        match t {
            FRA_PRIORITY => rule.priority = u32_of(v)?,
            FRA_DST => rule.to = Some(net(v, dst_len)?),
            FRA_SRC => rule.from = Some(net(v, src_len)?),
            FRA_IIFNAME => rule.iif = Some(name_of(v)?),
            FRA_OIFNAME => rule.oif = Some(name_of(v)?),
            FRA_FWMARK => mark = u32_of(v),
            FRA_FWMASK => mask = u32_of(v),
            FRA_TABLE if action == RuleAction::Lookup => rule.table = u32_of(v)?,
            FRA_TABLE | FRA_PAD => {}
            // Always reported; -1 means "not set".
            FRA_SUPPRESS_PREFIXLEN | FRA_SUPPRESS_IFGROUP if u32_of(v) == Some(u32::MAX) => {}
            FRA_PROTOCOL => proto = *v.first()?,
            _ => return None,
        }
    }
    if !OWNED_RULE_PROTOCOLS.contains(&proto) {
        return None;
    }
    // The kernel reports mask 0xffffffff with a mark, and a mask alone for `fwmark 0/MASK`.
    if mark.is_some() || mask.is_some() {
        rule.fwmark = Some(Fwmark {
            value: mark.unwrap_or(0),
            mask: Some(mask.unwrap_or(u32::MAX)),
        });
    }
    Some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = Rule {
            priority: 100,
            family: Family::Ipv4,
            from: Some("10.0.0.0/8".parse().unwrap()),
            to: None,
            iif: Some("eth0".parse().unwrap()),
            oif: None,
            fwmark: Some(Fwmark {
                value: 16,
                mask: Some(255),
            }),
            action: RuleAction::Lookup,
            table: 1000,
        };
        assert_eq!(decode(&new_rule(&r).payload), Some(r.clone()));
        assert_eq!(
            decode(&encode(&r, Some(2))),
            None,
            "the kernel's rules are not config"
        );
        assert_eq!(
            decode(&encode(&r, None)),
            Some(r),
            "`ip rule add` rules are config"
        );
    }
}
