//! WireGuard devices over generic netlink: the family id from the controller, a device's
//! keys and peers read with WG_CMD_GET_DEVICE, changes written with WG_CMD_SET_DEVICE.
//! The messages are `netlink-packet-wireguard`'s; they travel on our own synchronous
//! [`Netlink`] socket, so reads stay strict and writes report the kernel's reason.

use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_generic::GenlHeader;
use netlink_packet_wireguard::{
    WireguardAddressFamily, WireguardAllowedIp, WireguardAllowedIpAttr, WireguardAttribute,
    WireguardCmd, WireguardDeviceFlags, WireguardMessage, WireguardPeer, WireguardPeerAttribute,
    WireguardPeerFlags,
};

use super::netlink::{attrs, Netlink, NetlinkError, Request};
use crate::model::{Endpoint, WgChange, WgKey, WgPeer, WgSecret, WireguardOpts};

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const GENL_HDRLEN: usize = 4;
const FAMILY: &str = "wireguard";

/// A generic netlink socket and the WireGuard family's id, once known.
#[derive(Debug)]
pub struct Genl {
    nl: Netlink,
    family: Option<u16>,
}

fn genl_request(kind: u16, cmd: u8, version: u8, body: &[u8]) -> Request {
    let header = GenlHeader { cmd, version };
    let mut payload = vec![0; header.buffer_len()];
    header.emit(&mut payload);
    payload.extend_from_slice(body);
    Request {
        kind,
        flags: 0,
        payload,
    }
}

fn message(cmd: WireguardCmd, attributes: Vec<WireguardAttribute>, family: u16) -> Request {
    let msg = WireguardMessage { cmd, attributes };
    let mut body = vec![0; msg.buffer_len()];
    msg.emit(&mut body);
    genl_request(family, cmd.into(), 1, &body)
}

impl Genl {
    pub fn open() -> std::io::Result<Genl> {
        Ok(Genl {
            nl: Netlink::open_generic()?,
            family: None,
        })
    }

    /// The family id; the kernel registers the family when the wireguard module loads
    /// (creating the first WireGuard link loads it).
    pub fn family(&mut self) -> Result<u16, NetlinkError> {
        if let Some(id) = self.family {
            return Ok(id);
        }
        let req = genl_request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 2, &[]);
        let found = self.nl.dump("generic netlink families", &req, |p| {
            let (mut id, mut name) = (None, None);
            for (kind, v) in attrs(p.get(GENL_HDRLEN..)?) {
                match kind {
                    CTRL_ATTR_FAMILY_ID => id = v.try_into().ok().map(u16::from_ne_bytes),
                    CTRL_ATTR_FAMILY_NAME => name = Some(v.strip_suffix(&[0]).unwrap_or(v)),
                    _ => {}
                }
            }
            id.filter(|_| name == Some(FAMILY.as_bytes()))
        })?;
        let id = found.first().copied().ok_or_else(|| {
            NetlinkError::Malformed(
                "the kernel has no WireGuard generic netlink family (module wireguard)".into(),
            )
        })?;
        self.family = Some(id);
        Ok(id)
    }

    /// The device's keys, port, mark and peers, in the model's canonical form.
    pub fn read(&mut self, ifindex: u32) -> Result<WireguardOpts, NetlinkError> {
        let family = self.family()?;
        let req = message(
            WireguardCmd::GetDevice,
            vec![WireguardAttribute::IfIndex(ifindex)],
            family,
        );
        let parts = self.nl.dump("a WireGuard device", &req, |p| {
            let header = GenlHeader::parse(p).map_err(|e| e.to_string());
            Some(header.and_then(|h| {
                WireguardMessage::parse_with_param(&p[GENL_HDRLEN..], h).map_err(|e| e.to_string())
            }))
        })?;
        let mut wg = WireguardOpts::default();
        for part in parts {
            let part = part.map_err(NetlinkError::Malformed)?;
            for a in part.attributes {
                match a {
                    WireguardAttribute::PrivateKey(k) => wg.private_key = Some(WgSecret(k)),
                    WireguardAttribute::ListenPort(p) => wg.listen_port = Some(p),
                    WireguardAttribute::Fwmark(m) => wg.fwmark = Some(m),
                    WireguardAttribute::Peers(peers) => {
                        peers.into_iter().for_each(|p| merge_peer(&mut wg.peers, p))
                    }
                    _ => {}
                }
            }
        }
        // The kernel's zero key means none; port 0 cannot be (the kernel binds one).
        wg.private_key = wg.private_key.filter(|k| !k.is_zero());
        wg.listen_port = wg.listen_port.filter(|p| *p != 0);
        Ok(wg.normalized())
    }

    /// Sends one request and waits for its acknowledgement.
    pub fn send(&mut self, req: &Request) -> Result<Result<(), String>, NetlinkError> {
        let mut out = self.nl.batch(std::slice::from_ref(req))?;
        Ok(out.pop().unwrap_or(Ok(())).map_err(|e| e.to_string()))
    }
}

/// WG_CMD_SET_DEVICE for `change` on the device named `name`.
pub fn set_request(family: u16, name: &str, change: &WgChange) -> Request {
    let mut a = vec![WireguardAttribute::IfName(name.to_owned())];
    a.extend(
        change
            .private_key
            .map(|k| WireguardAttribute::PrivateKey(k.0)),
    );
    a.extend(change.listen_port.map(WireguardAttribute::ListenPort));
    a.extend(change.fwmark.map(WireguardAttribute::Fwmark));
    let mut peers: Vec<WireguardPeer> = change
        .removed
        .iter()
        .map(|k| {
            WireguardPeer(vec![
                WireguardPeerAttribute::PublicKey(k.0),
                WireguardPeerAttribute::Flags(WireguardPeerFlags::RemoveMe),
            ])
        })
        .collect();
    peers.extend(change.added.iter().chain(&change.changed).map(|p| peer(p)));
    if !peers.is_empty() {
        a.push(WireguardAttribute::Peers(peers));
    }
    // Peers not named are left as they are: no REPLACE_PEERS.
    a.push(WireguardAttribute::Flags(WireguardDeviceFlags::empty()));
    message(WireguardCmd::SetDevice, a, family)
}

/// A peer whole: its allowed IPs replace the kernel's, a missing preshared key or
/// keepalive clears the one it had; a missing endpoint keeps the one it has (learnt).
fn peer(p: &WgPeer) -> WireguardPeer {
    let mut a = vec![
        WireguardPeerAttribute::PublicKey(p.public_key.0),
        WireguardPeerAttribute::Flags(WireguardPeerFlags::ReplaceAllowedIps),
        WireguardPeerAttribute::PresharedKey(p.preshared_key.map_or([0; 32], |k| k.0)),
        WireguardPeerAttribute::PersistentKeepalive(p.persistent_keepalive.unwrap_or(0)),
    ];
    a.extend(p.endpoint.map(|e| WireguardPeerAttribute::Endpoint(e.0)));
    let ips = p
        .allowed_ips
        .iter()
        .map(|n| {
            let family = if n.addr().is_ipv4() {
                WireguardAddressFamily::Ipv4
            } else {
                WireguardAddressFamily::Ipv6
            };
            WireguardAllowedIp(vec![
                WireguardAllowedIpAttr::Family(family),
                WireguardAllowedIpAttr::IpAddr(n.addr()),
                WireguardAllowedIpAttr::Cidr(n.prefix_len()),
            ])
        })
        .collect();
    a.push(WireguardPeerAttribute::AllowedIps(ips));
    WireguardPeer(a)
}

/// Adds a dumped peer; a peer whose allowed IPs did not fit one message continues in the
/// next under the same key.
fn merge_peer(peers: &mut Vec<WgPeer>, raw: WireguardPeer) {
    let mut p = WgPeer {
        public_key: WgKey([0; 32]),
        preshared_key: None,
        endpoint: None,
        allowed_ips: Vec::new(),
        persistent_keepalive: None,
    };
    for a in raw.0 {
        match a {
            WireguardPeerAttribute::PublicKey(k) => p.public_key = WgKey(k),
            WireguardPeerAttribute::PresharedKey(k) => p.preshared_key = Some(WgSecret(k)),
            WireguardPeerAttribute::Endpoint(e) => p.endpoint = Some(Endpoint(e)),
            WireguardPeerAttribute::PersistentKeepalive(k) => p.persistent_keepalive = Some(k),
            WireguardPeerAttribute::AllowedIps(ips) => {
                p.allowed_ips.extend(ips.iter().filter_map(allowed_ip))
            }
            _ => {}
        }
    }
    match peers.last_mut() {
        Some(last) if last.public_key == p.public_key => last.allowed_ips.extend(p.allowed_ips),
        _ => peers.push(p),
    }
}

fn allowed_ip(ip: &WireguardAllowedIp) -> Option<ipnet::IpNet> {
    let (mut addr, mut cidr) = (None, None);
    for a in &ip.0 {
        match a {
            WireguardAllowedIpAttr::IpAddr(x) => addr = Some(*x),
            WireguardAllowedIpAttr::Cidr(c) => cidr = Some(*c),
            _ => {}
        }
    }
    ipnet::IpNet::new(addr?, cidr?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_request_carries_only_the_change_and_parses_back() {
        let p: WgPeer = toml::from_str(
            r#"public_key = "P5WNGpdp06O73SiDDPadPqzqgq0P1LgnfrdMSxS4SlA="
               endpoint = "192.0.2.2:51820"
               allowed_ips = ["10.99.0.2/32", "2001:db8::/64"]"#,
        )
        .unwrap();
        let gone = WgKey([7; 32]);
        let change = WgChange {
            listen_port: Some(51820),
            removed: vec![&gone],
            changed: vec![&p],
            ..WgChange::default()
        };
        let req = set_request(30, "wg0", &change);
        assert_eq!(req.kind, 30);
        let header = GenlHeader::parse(&req.payload).unwrap();
        let msg = WireguardMessage::parse_with_param(&req.payload[GENL_HDRLEN..], header).unwrap();
        assert_eq!(msg.cmd, WireguardCmd::SetDevice);
        assert!(msg
            .attributes
            .iter()
            .all(|a| !matches!(a, WireguardAttribute::PrivateKey(_))));
        let Some(WireguardAttribute::Peers(peers)) = msg
            .attributes
            .iter()
            .find(|a| matches!(a, WireguardAttribute::Peers(_)))
        else {
            panic!("no peers in {msg:?}");
        };
        let mut back = Vec::new();
        peers.iter().cloned().for_each(|x| merge_peer(&mut back, x));
        assert_eq!(back[0].public_key, gone);
        assert_eq!(back[1].allowed_ips, p.allowed_ips);
        assert_eq!(back[1].endpoint, p.endpoint);
    }
}
