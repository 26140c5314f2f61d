//! Route messages, encoded and decoded by hand: routes are the one object counted in
//! millions, and a generic attribute list per route (netlink-packet-route's `RouteMessage`)
//! costs allocations that dominate a 1M-route dump. Addresses, rules and nexthops are encoded
//! by hand too (fixed headers, few attributes); only links, whose info is deeply nested and
//! per kind, go through netlink-packet-route.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::netlink::{
    attrs, ip_bytes, parse_ip, put_attr, Request, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE,
};
use super::{nexthop_codec, IfIndex, OWNED_PROTOCOLS, PROTOCOL};
use crate::model::{IfName, NextHop, Route, RouteKey, RouteType};

pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;
const RTA_NH_ID: u16 = 30;

const RTN_UNICAST: u8 = 1;
const RTN_BLACKHOLE: u8 = 6;
const RTN_UNREACHABLE: u8 = 7;
const RTN_PROHIBIT: u8 = 8;
const RTN_THROW: u8 = 9;

const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_NOWHERE: u8 = 255;
const RTNH_F_ONLINK: u8 = 4;
const RTM_F_CLONED: u32 = 0x200;
const RT_TABLE_UNSPEC: u8 = 0;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

fn family(net: &IpNet) -> u8 {
    match net {
        IpNet::V4(_) => AF_INET,
        IpNet::V6(_) => AF_INET6,
    }
}

fn type_code(t: RouteType) -> u8 {
    match t {
        RouteType::Unicast => RTN_UNICAST,
        RouteType::Blackhole => RTN_BLACKHOLE,
        RouteType::Unreachable => RTN_UNREACHABLE,
        RouteType::Prohibit => RTN_PROHIBIT,
        RouteType::Throw => RTN_THROW,
    }
}

fn type_of(code: u8) -> Option<RouteType> {
    Some(match code {
        RTN_UNICAST => RouteType::Unicast,
        RTN_BLACKHOLE => RouteType::Blackhole,
        RTN_UNREACHABLE => RouteType::Unreachable,
        RTN_PROHIBIT => RouteType::Prohibit,
        RTN_THROW => RouteType::Throw,
        _ => return None,
    })
}

fn rtmsg(
    out: &mut Vec<u8>,
    dst: &IpNet,
    table: u32,
    protocol: u8,
    scope: u8,
    kind: u8,
    flags: u32,
) {
    let table8 = u8::try_from(table).unwrap_or(RT_TABLE_UNSPEC);
    out.extend_from_slice(&[
        family(dst),
        dst.prefix_len(),
        0,
        0,
        table8,
        protocol,
        scope,
        kind,
    ]);
    out.extend_from_slice(&flags.to_ne_bytes());
    put_attr(out, RTA_DST, &ip_bytes(&dst.network()));
    put_attr(out, RTA_TABLE, &table.to_ne_bytes());
}

/// Why a route cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteEncodeError {
    #[error("interface {0} does not exist")]
    NoSuchLink(IfName),
    /// `check` refuses such a route; this is the encoder's own guard, as the attribute's
    /// length field would wrap.
    #[error("{hops} next hops take {bytes} bytes, more than a netlink attribute holds")]
    TooManyHops { hops: usize, bytes: usize },
}

fn index(
    ifindex: &dyn Fn(&IfName) -> Option<IfIndex>,
    name: &IfName,
) -> Result<u32, RouteEncodeError> {
    ifindex(name).ok_or_else(|| RouteEncodeError::NoSuchLink(name.clone()))
}

/// RTM_NEWROUTE for `r`, creating it (`replace = false`, failing if the key is taken) or
/// replacing the route with its key. With `nexthop`, the route points at that nexthop
/// object, which holds its gateway and device.
pub fn new_route(
    r: &Route,
    replace: bool,
    ifindex: &dyn Fn(&IfName) -> Option<IfIndex>,
    nexthop: Option<u32>,
) -> Result<Request, RouteEncodeError> {
    let mut payload = Vec::with_capacity(64);
    let flags = encode_route(&mut payload, r, replace, ifindex, nexthop)?;
    Ok(Request {
        kind: RTM_NEWROUTE,
        flags,
        payload,
    })
}

/// [`new_route`]'s payload, appended to `p` (at a 4-byte boundary); returns its flags.
pub fn encode_route(
    p: &mut Vec<u8>,
    r: &Route,
    replace: bool,
    ifindex: &dyn Fn(&IfName) -> Option<IfIndex>,
    nexthop: Option<u32>,
) -> Result<u16, RouteEncodeError> {
    let unicast = r.kind == RouteType::Unicast;
    let scope = if unicast && r.via.is_none() && r.nexthops.is_empty() && r.key.dst.addr().is_ipv4()
    {
        RT_SCOPE_LINK
    } else {
        RT_SCOPE_UNIVERSE
    };
    let flags = if r.onlink {
        u32::from(RTNH_F_ONLINK)
    } else {
        0
    };
    rtmsg(
        p,
        &r.key.dst,
        r.key.table,
        PROTOCOL,
        scope,
        type_code(r.kind),
        flags,
    );
    put_attr(p, RTA_PRIORITY, &r.key.metric.to_ne_bytes());
    if let Some(id) = nexthop {
        put_attr(p, RTA_NH_ID, &id.to_ne_bytes());
    } else {
        if let Some(v) = &r.via {
            put_attr(p, RTA_GATEWAY, &ip_bytes(v));
        }
        if let Some(d) = &r.dev {
            put_attr(p, RTA_OIF, &index(ifindex, d)?.to_ne_bytes());
        }
    }
    if let Some(s) = &r.src {
        put_attr(p, RTA_PREFSRC, &ip_bytes(s));
    }
    if !r.nexthops.is_empty() {
        let mut mp = Vec::new();
        for nh in &r.nexthops {
            let start = mp.len();
            let oif = nh
                .dev
                .as_ref()
                .map(|d| index(ifindex, d))
                .transpose()?
                .unwrap_or(0);
            let hops = u8::try_from(nh.weight.saturating_sub(1)).unwrap_or(u8::MAX);
            mp.extend_from_slice(&[0, 0, if nh.onlink { RTNH_F_ONLINK } else { 0 }, hops]);
            mp.extend_from_slice(&oif.to_ne_bytes());
            if let Some(v) = &nh.via {
                put_attr(&mut mp, RTA_GATEWAY, &ip_bytes(v));
            }
            let len = u16::try_from(mp.len() - start).unwrap_or(u16::MAX);
            mp[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        if mp.len() + 4 > usize::from(u16::MAX) {
            return Err(RouteEncodeError::TooManyHops {
                hops: r.nexthops.len(),
                bytes: mp.len(),
            });
        }
        put_attr(p, RTA_MULTIPATH, &mp);
    }
    Ok(NLM_F_CREATE | if replace { NLM_F_REPLACE } else { NLM_F_EXCL })
}

/// RTM_DELROUTE for the route with `key`, whoever installed it.
pub fn del_route(key: &RouteKey) -> Request {
    let mut p = Vec::with_capacity(48);
    rtmsg(&mut p, &key.dst, key.table, 0, RT_SCOPE_NOWHERE, 0, 0);
    put_attr(&mut p, RTA_PRIORITY, &key.metric.to_ne_bytes());
    Request {
        kind: RTM_DELROUTE,
        flags: 0,
        payload: p,
    }
}

/// A strict dump request for every route of `family` in every table.
pub fn dump_request(family_code: u8) -> Request {
    let mut p = vec![family_code, 0, 0, 0, RT_TABLE_UNSPEC, 0, 0, 0];
    p.extend_from_slice(&0u32.to_ne_bytes());
    Request {
        kind: RTM_GETROUTE,
        flags: 0,
        payload: p,
    }
}

pub const DUMP_FAMILIES: [u8; 2] = [AF_INET, AF_INET6];

/// What a dumped route is to the agent.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Config(Route),
    /// Another protocol's route, or a form the model does not cover: never touched.
    NotConfig,
    /// A config route on a link the model does not cover; reported, never touched.
    UnknownLink(u32),
}

/// The nexthop object a dumped route points at, whoever owns the route.
pub fn nexthop_id(p: &[u8]) -> Option<u32> {
    attrs(p.get(12..)?)
        .find(|(t, _)| *t == RTA_NH_ID)
        .and_then(|(_, v)| <[u8; 4]>::try_from(v).ok())
        .map(u32::from_ne_bytes)
}

/// Decodes one RTM_NEWROUTE payload from a dump. A route on a single-hop nexthop object
/// reads as that object's gateway and device.
pub fn decode(
    p: &[u8],
    name_of: &dyn Fn(u32) -> Option<IfName>,
    nexthops: &nexthop_codec::Table,
) -> Decoded {
    if p.len() < 12 {
        return Decoded::NotConfig;
    }
    let (fam, dst_len, src_len, tos, table8, proto, _scope, kind) =
        (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
    let flags = u32::from_ne_bytes([p[8], p[9], p[10], p[11]]);
    let Some(kind) = type_of(kind) else {
        return Decoded::NotConfig;
    };
    if !OWNED_PROTOCOLS.contains(&proto) || src_len != 0 || tos != 0 || flags & RTM_F_CLONED != 0 {
        return Decoded::NotConfig;
    }
    let zero = if fam == AF_INET {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let (mut dst, mut table, mut metric) = (zero, u32::from(table8), 0);
    let (mut via, mut oif, mut src, mut multipath) = (None, None, None, None);
    let mut nh_onlink = false;
    for (t, v) in attrs(&p[12..]) {
        match t {
            RTA_DST => dst = parse_ip(v).unwrap_or(zero),
            RTA_TABLE if v.len() == 4 => table = u32::from_ne_bytes([v[0], v[1], v[2], v[3]]),
            RTA_PRIORITY if v.len() == 4 => metric = u32::from_ne_bytes([v[0], v[1], v[2], v[3]]),
            RTA_GATEWAY => via = parse_ip(v),
            RTA_OIF if v.len() == 4 => oif = Some(u32::from_ne_bytes([v[0], v[1], v[2], v[3]])),
            RTA_PREFSRC => src = parse_ip(v),
            RTA_MULTIPATH => multipath = Some(v),
            RTA_NH_ID => match <[u8; 4]>::try_from(v)
                .ok()
                .and_then(|id| nexthops.get(&u32::from_ne_bytes(id)))
            {
                Some(hop) => {
                    via = Some(hop.via);
                    oif = Some(hop.oif);
                    nh_onlink = hop.onlink;
                }
                None => return Decoded::NotConfig,
            },
            RTA_VIA => return Decoded::NotConfig,
            _ => {}
        }
    }
    let Ok(dst) = IpNet::new(dst, dst_len) else {
        return Decoded::NotConfig;
    };
    let mut route = Route {
        key: RouteKey { table, dst, metric },
        kind,
        via: None,
        dev: None,
        onlink: false,
        src,
        nexthops: Vec::new(),
    };
    if kind != RouteType::Unicast {
        // The kernel reports blackhole and friends on `lo`; that is not part of the route.
        return Decoded::Config(route);
    }
    if let Some(mut mp) = multipath {
        while mp.len() >= 8 {
            let len = usize::from(u16::from_ne_bytes([mp[0], mp[1]]));
            if len < 8 || len > mp.len() {
                break;
            }
            let idx = u32::from_ne_bytes([mp[4], mp[5], mp[6], mp[7]]);
            let dev = match idx {
                0 => None,
                i => match name_of(i) {
                    Some(n) => Some(n),
                    None => return Decoded::UnknownLink(i),
                },
            };
            let mut hop_via = None;
            for (t, v) in attrs(&mp[8..len]) {
                match t {
                    RTA_GATEWAY => hop_via = parse_ip(v),
                    RTA_VIA => return Decoded::NotConfig,
                    _ => {}
                }
            }
            route.nexthops.push(NextHop {
                via: hop_via,
                dev,
                weight: u16::from(mp[3]) + 1,
                onlink: mp[2] & RTNH_F_ONLINK != 0,
            });
            mp = &mp[((len + 3) & !3).min(mp.len())..];
        }
        return Decoded::Config(route);
    }
    route.via = via;
    route.onlink = nh_onlink || flags & u32::from(RTNH_F_ONLINK) != 0;
    if let Some(i) = oif {
        match name_of(i) {
            Some(n) => route.dev = Some(n),
            None => return Decoded::UnknownLink(i),
        }
    }
    Decoded::Config(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(i: u32) -> Option<IfName> {
        match i {
            2 => Some("eth0".parse().unwrap()),
            3 => Some("eth1".parse().unwrap()),
            _ => None,
        }
    }

    fn index_of(n: &IfName) -> Option<u32> {
        (1..10).find(|i| names(*i).as_ref() == Some(n))
    }

    fn round_trip(r: Route) {
        let req = new_route(&r, false, &index_of, None).unwrap();
        // A dump reports the protocol we wrote.
        assert_eq!(
            decode(&req.payload, &names, &Default::default()),
            Decoded::Config(r)
        );
    }

    fn route(dst: &str) -> Route {
        Route {
            key: RouteKey {
                table: 254,
                dst: dst.parse().unwrap(),
                metric: 0,
            },
            kind: RouteType::Unicast,
            via: None,
            dev: None,
            onlink: false,
            src: None,
            nexthops: Vec::new(),
        }
    }

    #[test]
    fn codec_round_trips() {
        let mut r = route("10.0.0.0/8");
        r.via = Some("192.0.2.1".parse().unwrap());
        r.dev = Some("eth0".parse().unwrap());
        r.onlink = true;
        r.src = Some("192.0.2.2".parse().unwrap());
        r.key.table = 1000;
        r.key.metric = 20;
        round_trip(r);

        let mut r = route("2001:db8::/32");
        r.nexthops = vec![
            NextHop {
                via: Some("fe80::1".parse().unwrap()),
                dev: Some("eth0".parse().unwrap()),
                weight: 3,
                onlink: false,
            },
            NextHop {
                via: Some("fe80::2".parse().unwrap()),
                dev: Some("eth1".parse().unwrap()),
                weight: 1,
                onlink: false,
            },
        ];
        round_trip(r);

        let mut r = route("0.0.0.0/0");
        r.kind = RouteType::Blackhole;
        round_trip(r);
    }

    #[test]
    fn a_route_on_a_nexthop_object_reads_as_its_gateway() {
        let mut r = route("10.0.0.0/8");
        r.via = Some("192.0.2.1".parse().unwrap());
        r.dev = Some("eth0".parse().unwrap());
        let req = new_route(&r, false, &index_of, Some(7)).unwrap();
        assert_eq!(nexthop_id(&req.payload), Some(7));
        let hop = nexthop_codec::Hop {
            via: "192.0.2.1".parse().unwrap(),
            oif: 2,
            onlink: false,
        };
        let table = [(7, hop)].into_iter().collect();
        assert_eq!(decode(&req.payload, &names, &table), Decoded::Config(r));
        assert_eq!(
            decode(&req.payload, &names, &Default::default()),
            Decoded::NotConfig
        );
    }

    #[test]
    fn foreign_protocols_are_not_config() {
        let mut req = new_route(&route("10.0.0.0/8"), false, &index_of, None).unwrap();
        req.payload[5] = 12; // RTPROT_BIRD
        assert_eq!(
            decode(&req.payload, &names, &Default::default()),
            Decoded::NotConfig
        );
    }

    #[test]
    fn next_hops_past_the_attribute_length_are_refused() {
        let mut r = route("10.0.0.0/8");
        let hop = NextHop {
            via: Some("192.0.2.1".parse().unwrap()),
            dev: None,
            weight: 1,
            onlink: false,
        };
        r.nexthops = vec![hop; 4096];
        let e = new_route(&r, false, &index_of, None).unwrap_err();
        assert!(
            matches!(e, RouteEncodeError::TooManyHops { hops: 4096, .. }),
            "{e}"
        );
        r.nexthops.truncate(4095);
        assert!(new_route(&r, false, &index_of, None).is_ok());
    }

    #[test]
    fn unknown_device_is_reported() {
        let mut r = route("10.0.0.0/8");
        r.dev = Some("eth0".parse().unwrap());
        let req = new_route(&r, false, &|_| Some(77), None).unwrap();
        assert_eq!(
            decode(&req.payload, &names, &Default::default()),
            Decoded::UnknownLink(77)
        );
    }
}
