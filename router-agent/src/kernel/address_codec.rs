//! Address messages (`ifaddrmsg`), by hand like routes: a fixed header and a few attributes.

use std::net::IpAddr;

use ipnet::IpNet;

use super::netlink::{attrs, ip_bytes, parse_ip, put_attr, Request, NLM_F_CREATE, NLM_F_EXCL};

pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_CACHEINFO: u16 = 6;
const IFA_PROTO: u16 = 11;

const IFAPROT_KERNEL_LO: u8 = 1;
const IFAPROT_KERNEL_RA: u8 = 2;
const IFAPROT_KERNEL_LL: u8 = 3;
const INFINITY_LIFE: u32 = u32::MAX;

fn header(addr: &IpNet, index: u32) -> Vec<u8> {
    let family = if addr.addr().is_ipv4() { 2 } else { 10 };
    let mut p = vec![family, addr.prefix_len(), 0, 0];
    p.extend_from_slice(&index.to_ne_bytes());
    p
}

pub fn new_address(addr: &IpNet, index: u32) -> Request {
    let mut p = header(addr, index);
    put_attr(&mut p, IFA_LOCAL, &ip_bytes(&addr.addr()));
    put_attr(&mut p, IFA_ADDRESS, &ip_bytes(&addr.addr()));
    Request {
        kind: RTM_NEWADDR,
        flags: NLM_F_CREATE | NLM_F_EXCL,
        payload: p,
    }
}

pub fn del_address(addr: &IpNet, index: u32) -> Request {
    let mut p = header(addr, index);
    put_attr(&mut p, IFA_LOCAL, &ip_bytes(&addr.addr()));
    Request {
        kind: RTM_DELADDR,
        flags: 0,
        payload: p,
    }
}

pub fn dump_request() -> Request {
    Request {
        kind: RTM_GETADDR,
        flags: 0,
        payload: vec![0; 8],
    }
}

/// The (interface index, address) of a dumped address the config owns: kernel-made
/// addresses (loopback, IPv6 link-local, SLAAC) and leased ones (finite lifetime) are not.
pub fn decode(p: &[u8]) -> Option<(u32, IpNet)> {
    if p.len() < 8 {
        return None;
    }
    let prefix_len = p[1];
    let index = u32::from_ne_bytes([p[4], p[5], p[6], p[7]]);
    let (mut local, mut address, mut proto, mut valid) = (None, None, 0, INFINITY_LIFE);
    for (t, v) in attrs(&p[8..]) {
        match t {
            IFA_LOCAL => local = parse_ip(v),
            IFA_ADDRESS => address = parse_ip(v),
            IFA_PROTO if !v.is_empty() => proto = v[0],
            IFA_CACHEINFO if v.len() >= 8 => valid = u32::from_ne_bytes([v[4], v[5], v[6], v[7]]),
            _ => {}
        }
    }
    let addr = local.or(address)?;
    let kernel_made = matches!(
        proto,
        IFAPROT_KERNEL_LO | IFAPROT_KERNEL_RA | IFAPROT_KERNEL_LL
    ) || (proto == 0 && is_automatic(&addr, prefix_len));
    if kernel_made || valid != INFINITY_LIFE {
        return None;
    }
    IpNet::new(addr, prefix_len).ok().map(|n| (index, n))
}

/// Kernels before 6.1 do not tag their own addresses: recognise them by shape.
fn is_automatic(addr: &IpAddr, prefix_len: u8) -> bool {
    match addr {
        IpAddr::V4(v) => v.is_loopback() && prefix_len == 8 && v.octets() == [127, 0, 0, 1],
        IpAddr::V6(v) => v.is_loopback() || (v.is_unicast_link_local() && prefix_len == 64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_kernel_addresses() {
        let a: IpNet = "192.0.2.1/24".parse().unwrap();
        assert_eq!(decode(&new_address(&a, 7).payload), Some((7, a)));
        let ll: IpNet = "fe80::1/64".parse().unwrap();
        assert_eq!(decode(&new_address(&ll, 7).payload), None);
        let lo: IpNet = "127.0.0.1/8".parse().unwrap();
        assert_eq!(decode(&new_address(&lo, 1).payload), None);
        let mut leased = new_address(&a, 7).payload;
        let mut ci = Vec::new();
        for v in [100u32, 200, 0, 0] {
            ci.extend_from_slice(&v.to_ne_bytes());
        }
        put_attr(&mut leased, IFA_CACHEINFO, &ci);
        assert_eq!(decode(&leased), None);
    }
}
