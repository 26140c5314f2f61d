//! Kernel change notifications (rtnetlink multicast): links, addresses, routes and rules.
//! Only changes that can alter the rendered config are reported: a route of BIRD, the
//! kernel, RA or DHCP is not config, so a full BGP table arriving stays silent.

use std::io;

use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

use super::netlink::messages;
use super::OWNED_PROTOCOLS;

// rtnetlink multicast groups (linux/rtnetlink.h, enum rtnetlink_groups).
const GROUPS: [u32; 7] = [
    1,  // RTNLGRP_LINK
    5,  // RTNLGRP_IPV4_IFADDR
    7,  // RTNLGRP_IPV4_ROUTE
    8,  // RTNLGRP_IPV4_RULE
    9,  // RTNLGRP_IPV6_IFADDR
    11, // RTNLGRP_IPV6_ROUTE
    19, // RTNLGRP_IPV6_RULE
];

const NLMSG_OVERRUN: u16 = 4;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWRULE: u16 = 32;
const RTM_DELRULE: u16 = 33;

/// What one notification is about, if it can change the config.
pub fn classify(msg_type: u16, payload: &[u8]) -> Option<&'static str> {
    match msg_type {
        RTM_NEWLINK | RTM_DELLINK => Some("link"),
        RTM_NEWADDR | RTM_DELADDR => Some("address"),
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, ...
        RTM_NEWROUTE | RTM_DELROUTE => payload
            .get(5)
            .filter(|p| OWNED_PROTOCOLS.contains(p))
            .map(|_| "route"),
        RTM_NEWRULE | RTM_DELRULE => Some("rule"),
        _ => None,
    }
}

/// The notifications in one datagram that matter; an overrun (the kernel dropped
/// notifications) matters too: something changed that was not seen.
pub fn relevant(datagram: &[u8]) -> Vec<&'static str> {
    messages(datagram)
        .map_while(Result::ok)
        .filter_map(|(kind, _, _, payload)| match kind {
            NLMSG_OVERRUN => Some("overrun"),
            _ => classify(kind, payload),
        })
        .collect()
}

/// Subscribes to the groups above in the current network namespace.
#[derive(Debug)]
pub struct Monitor {
    sock: Socket,
    buf: Vec<u8>,
}

impl Monitor {
    pub fn open() -> io::Result<Monitor> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind(&SocketAddr::new(0, 0))?;
        for g in GROUPS {
            sock.add_membership(g)?;
        }
        Ok(Monitor {
            sock,
            buf: vec![0; 1 << 16],
        })
    }

    /// Blocks for the next datagram and returns what in it matters (maybe nothing). A
    /// full receive buffer (ENOBUFS) is reported as an overrun.
    pub fn wait(&mut self) -> io::Result<Vec<&'static str>> {
        match self.sock.recv(&mut &mut self.buf[..], 0) {
            Ok(n) => Ok(relevant(&self.buf[..n])),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(vec!["overrun"]),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::netlink::NLMSG_HDRLEN;
    use super::*;

    fn msg(kind: u16, payload: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HDRLEN + payload.len()) as u32;
        let mut m = len.to_ne_bytes().to_vec();
        m.extend(kind.to_ne_bytes());
        m.extend([0u8; 10]);
        m.extend(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn routes_of_other_owners_are_silent() {
        let bird = msg(RTM_NEWROUTE, &[2, 24, 0, 0, 254, 12, 0, 1]);
        let kernel = msg(RTM_NEWROUTE, &[2, 24, 0, 0, 254, 2, 0, 1]);
        let ours = msg(RTM_DELROUTE, &[2, 24, 0, 0, 254, 196, 0, 1]);
        let by_hand = msg(RTM_NEWROUTE, &[2, 24, 0, 0, 254, 3, 0, 1]);
        let link = msg(RTM_NEWLINK, &[0; 16]);
        let all = [bird, kernel, ours, by_hand, link].concat();
        assert_eq!(relevant(&all), ["route", "route", "link"]);
    }
}
