//! The management path's static address and default route, written over netlink before
//! the agent has a config: one batch instead of three `ip` processes (0.2 s each under
//! TCG, on the boot's critical path).

use std::net::IpAddr;

use ipnet::IpNet;

use super::netlink::{Netlink, NetlinkError, NlError, Request, NLM_F_CREATE, NLM_F_REPLACE};
use super::{address_codec, link_codec, route_codec};
use crate::model::{AdminState, IfName, Route, RouteKey, RouteType};

/// The main routing table.
const MAIN_TABLE: u32 = 254;

#[derive(Debug, thiserror::Error)]
pub enum MgmtPathError {
    #[error("{0:?} is not a valid interface name")]
    BadName(String),
    #[error("interface {name} has no index in /sys/class/net: {error}")]
    NoIndex { name: String, error: std::io::Error },
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("{what}: {error}")]
    Refused { what: String, error: NlError },
}

fn up(name: &IfName, index: u32) -> (String, Request) {
    let up = link_codec::Set {
        state: Some(AdminState::Up),
        ..Default::default()
    };
    (format!("setting {name} up"), link_codec::set(index, &up))
}

/// Link up, `address` replaced on it, and a default route via `gateway` (if any),
/// replacing the one there. In that order, for the link with index `index`.
pub fn requests(
    name: &IfName,
    index: u32,
    address: &IpNet,
    gateway: Option<IpAddr>,
) -> Vec<(String, Request)> {
    let mut addr = address_codec::new_address(address, index);
    addr.flags = NLM_F_CREATE | NLM_F_REPLACE;
    let mut out = vec![
        up(name, index),
        (format!("adding {address} to {name}"), addr),
    ];
    if let Some(gw) = gateway {
        let any: IpNet = if gw.is_ipv4() {
            "0.0.0.0/0".parse().expect("literal")
        } else {
            "::/0".parse().expect("literal")
        };
        let route = Route {
            key: RouteKey {
                table: MAIN_TABLE,
                dst: any,
                metric: 0,
            },
            kind: RouteType::Unicast,
            via: Some(gw),
            dev: Some(name.clone()),
            onlink: false,
            src: None,
            nexthops: Vec::new(),
        };
        let request = route_codec::new_route(&route, true, &|_| Some(index), None)
            .expect("the index is given");
        out.push((format!("default route via {gw} dev {name}"), request));
    }
    out
}

/// Writes [`requests`] for the link called `name`.
pub fn bring_up(name: &str, address: &IpNet, gateway: Option<IpAddr>) -> Result<(), MgmtPathError> {
    let (ifname, index) = link(name)?;
    send(requests(&ifname, index, address, gateway))
}

/// Sets the link called `name` up (before a DHCP client runs on it).
pub fn set_up(name: &str) -> Result<(), MgmtPathError> {
    let (ifname, index) = link(name)?;
    send(vec![up(&ifname, index)])
}

fn link(name: &str) -> Result<(IfName, u32), MgmtPathError> {
    let ifname: IfName = name
        .parse()
        .map_err(|_| MgmtPathError::BadName(name.to_owned()))?;
    let index = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .and_then(|s| {
            s.trim()
                .parse::<u32>()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })
        .map_err(|error| MgmtPathError::NoIndex {
            name: name.to_owned(),
            error,
        })?;
    Ok((ifname, index))
}

fn send(requests: Vec<(String, Request)>) -> Result<(), MgmtPathError> {
    let (what, reqs): (Vec<String>, Vec<Request>) = requests.into_iter().unzip();
    let mut nl = Netlink::open().map_err(NetlinkError::Io)?;
    for (what, result) in what.into_iter().zip(nl.batch(&reqs)?) {
        result.map_err(|error| MgmtPathError::Refused { what, error })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_address_then_route_replacing() {
        let name: IfName = "eth0".parse().expect("name");
        let reqs = requests(
            &name,
            7,
            &"10.0.2.15/24".parse().expect("net"),
            Some("10.0.2.2".parse().expect("ip")),
        );
        let kinds: Vec<u16> = reqs.iter().map(|(_, r)| r.kind).collect();
        assert_eq!(kinds, [16, 20, 24]); // RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE
        for (what, r) in &reqs[1..] {
            assert_eq!(r.flags & NLM_F_REPLACE, NLM_F_REPLACE, "{what} replaces");
        }
        let without_gw = requests(&name, 7, &"10.0.2.15/24".parse().expect("net"), None);
        assert_eq!(without_gw.len(), 2);
    }
}
