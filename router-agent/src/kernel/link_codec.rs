//! Link messages through netlink-packet-route: link info is deeply nested and per kind.

use netlink_packet_core::{Emitable, Parseable};
use netlink_packet_route::link::{
    BondLacpRate, BondMode as NlBondMode, BondXmitHashPolicy, BridgeStpState, InfoBond, InfoBridge,
    InfoData, InfoKind, InfoMacVlan, InfoVeth, InfoVlan, InfoVrf, LinkAttribute, LinkFlags,
    LinkInfo, LinkMessage, MacVlanMode, VlanProtocol as NlVlanProtocol,
};

use super::netlink::{Request, NLM_F_CREATE, NLM_F_EXCL};
use crate::model::{
    AdminState, BondMode, LacpRate, Link, LinkKind, MacAddr, MacvlanMode, VlanId, VlanProtocol,
    WireguardOpts, XmitHashPolicy,
};

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;

/// A dumped link before names are resolved.
#[derive(Debug, Clone)]
pub struct RawLink {
    pub index: u32,
    pub name: String,
    pub up: bool,
    pub loopback: bool,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
    pub perm_mac: Option<MacAddr>,
    /// The kernel chose the MAC at random (sysfs `addr_assign_type` 1, NET_ADDR_RANDOM):
    /// not config.
    pub random_mac: bool,
    pub alias: Option<String>,
    pub master: Option<u32>,
    /// IFLA_LINK: the parent of a VLAN or MACVLAN, the peer of a veth.
    pub link: Option<u32>,
    /// The parent or peer lives in another network namespace.
    pub link_elsewhere: bool,
    pub kind: RawKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawKind {
    /// No link info: a NIC.
    None,
    Bridge {
        stp: bool,
        vlan_filtering: bool,
    },
    Vlan {
        id: u16,
        protocol: VlanProtocol,
    },
    Bond {
        mode: u8,
        miimon: Option<u32>,
        lacp_rate: Option<u8>,
        xmit_hash_policy: Option<u8>,
    },
    Dummy,
    Vrf {
        table: u32,
    },
    Veth,
    Macvlan {
        mode: u32,
    },
    /// Keys and peers come over generic netlink: `None` until read.
    Wireguard(Option<Box<WireguardOpts>>),
    /// A kind the model does not cover (vxlan, tun...): never touched.
    Other(String),
}

fn mac_of(b: &[u8]) -> Option<MacAddr> {
    <[u8; 6]>::try_from(b)
        .ok()
        .map(MacAddr)
        .filter(|m| m.0 != [0; 6])
}

pub fn decode(payload: &[u8]) -> Result<RawLink, String> {
    let msg = LinkMessage::parse(payload).map_err(|e| e.to_string())?;
    let mut l = RawLink {
        index: msg.header.index,
        name: String::new(),
        up: msg.header.flags.contains(LinkFlags::Up),
        loopback: msg.header.flags.contains(LinkFlags::Loopback),
        mtu: None,
        mac: None,
        perm_mac: None,
        random_mac: false,
        alias: None,
        master: None,
        link: None,
        link_elsewhere: false,
        kind: RawKind::None,
    };
    for a in msg.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n,
            LinkAttribute::Mtu(m) => l.mtu = Some(m),
            LinkAttribute::Address(b) => l.mac = mac_of(&b),
            LinkAttribute::PermAddress(b) => l.perm_mac = mac_of(&b),
            LinkAttribute::IfAlias(s) if !s.is_empty() => l.alias = Some(s),
            LinkAttribute::Controller(i) if i != 0 => l.master = Some(i),
            LinkAttribute::Link(i) if i != 0 => l.link = Some(i),
            LinkAttribute::LinkNetNsId(_) => l.link_elsewhere = true,
            LinkAttribute::LinkInfo(infos) => l.kind = decode_kind(infos),
            _ => {}
        }
    }
    Ok(l)
}

fn decode_kind(infos: Vec<LinkInfo>) -> RawKind {
    let mut kind = None;
    let mut data = None;
    for i in infos {
        match i {
            LinkInfo::Kind(k) => kind = Some(k),
            LinkInfo::Data(d) => data = Some(d),
            _ => {}
        }
    }
    let Some(kind) = kind else {
        return RawKind::None;
    };
    match (kind, data) {
        (InfoKind::Bridge, d) => {
            let (mut stp, mut vlan_filtering) = (false, false);
            if let Some(InfoData::Bridge(opts)) = d {
                for o in opts {
                    match o {
                        InfoBridge::StpState(s) => stp = s != BridgeStpState::Disabled,
                        InfoBridge::VlanFiltering(v) => vlan_filtering = v,
                        _ => {}
                    }
                }
            }
            RawKind::Bridge {
                stp,
                vlan_filtering,
            }
        }
        (InfoKind::Vlan, Some(InfoData::Vlan(opts))) => {
            let (mut id, mut protocol) = (0, VlanProtocol::Dot1Q);
            for o in opts {
                match o {
                    InfoVlan::Id(i) => id = i,
                    InfoVlan::Protocol(NlVlanProtocol::Ieee8021Ad) => {
                        protocol = VlanProtocol::Dot1AD
                    }
                    _ => {}
                }
            }
            RawKind::Vlan { id, protocol }
        }
        (InfoKind::Bond, d) => {
            let (mut mode, mut miimon, mut lacp_rate, mut xmit_hash_policy) = (0, None, None, None);
            if let Some(InfoData::Bond(opts)) = d {
                for o in opts {
                    match o {
                        InfoBond::Mode(m) => mode = u8::from(m),
                        InfoBond::MiiMon(m) => miimon = Some(m),
                        InfoBond::AdLacpRate(r) => lacp_rate = Some(u8::from(r)),
                        InfoBond::XmitHashPolicy(p) => xmit_hash_policy = Some(u8::from(p)),
                        _ => {}
                    }
                }
            }
            RawKind::Bond {
                mode,
                miimon,
                lacp_rate,
                xmit_hash_policy,
            }
        }
        (InfoKind::Dummy, _) => RawKind::Dummy,
        (InfoKind::Vrf, Some(InfoData::Vrf(opts))) => {
            let table = opts.iter().find_map(|o| match o {
                InfoVrf::TableId(t) => Some(*t),
                _ => None,
            });
            RawKind::Vrf {
                table: table.unwrap_or(0),
            }
        }
        (InfoKind::Veth, _) => RawKind::Veth,
        (InfoKind::Wireguard, _) => RawKind::Wireguard(None),
        (InfoKind::MacVlan, d) => {
            let mut mode = MacvlanMode::Bridge as u32;
            if let Some(InfoData::MacVlan(opts)) = d {
                for o in opts {
                    if let InfoMacVlan::Mode(m) = o {
                        mode = u32::from(m);
                    }
                }
            }
            RawKind::Macvlan { mode }
        }
        (k, _) => RawKind::Other(k.to_string()),
    }
}

/// The model kind of a raw kind, once parents and peers have names.
pub fn model_kind(raw: &RawKind, related: Option<crate::model::IfName>) -> Option<LinkKind> {
    Some(match raw {
        RawKind::None => LinkKind::Physical { match_mac: None },
        RawKind::Bridge {
            stp,
            vlan_filtering,
        } => LinkKind::Bridge {
            stp: *stp,
            vlan_filtering: *vlan_filtering,
        },
        RawKind::Vlan { id, protocol } => LinkKind::Vlan {
            parent: related?,
            id: VlanId::new(*id).ok()?,
            protocol: *protocol,
        },
        RawKind::Bond {
            mode,
            miimon,
            lacp_rate,
            xmit_hash_policy,
        } => LinkKind::Bond {
            mode: BondMode::from_kernel(*mode)?,
            miimon: *miimon,
            // The kernel reports a LACP rate in every mode but takes one only in 802.3ad:
            // read back elsewhere, it would make the config refused at the next boot.
            lacp_rate: lacp_rate
                .filter(|_| BondMode::from_kernel(*mode) == Some(BondMode::Lacp))
                .map(|r| {
                    if r == 1 {
                        LacpRate::Fast
                    } else {
                        LacpRate::Slow
                    }
                }),
            xmit_hash_policy: xmit_hash_policy.and_then(XmitHashPolicy::from_kernel),
        },
        RawKind::Dummy => LinkKind::Dummy,
        RawKind::Vrf { table } => LinkKind::Vrf { table: *table },
        RawKind::Veth => LinkKind::Veth { peer: related? },
        RawKind::Macvlan { mode } => LinkKind::Macvlan {
            parent: related?,
            mode: MacvlanMode::from_kernel(*mode)?,
        },
        RawKind::Wireguard(wg) => LinkKind::Wireguard(wg.clone()?),
        RawKind::Other(_) => return None,
    })
}

fn header(index: u32, state: Option<AdminState>) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    if let Some(s) = state {
        m.header.change_mask = LinkFlags::Up;
        if s == AdminState::Up {
            m.header.flags = LinkFlags::Up;
        }
    }
    m
}

fn request(msg: &LinkMessage, kind: u16, flags: u16) -> Request {
    let mut payload = vec![0; msg.buffer_len()];
    msg.emit(&mut payload);
    Request {
        kind,
        flags,
        payload,
    }
}

/// Link info for the kind-specific options the kernel takes at creation and in place.
fn link_info(kind: &LinkKind) -> Option<Vec<LinkInfo>> {
    let (k, data) = match kind {
        LinkKind::Loopback | LinkKind::Physical { .. } => return None,
        LinkKind::Bridge {
            stp,
            vlan_filtering,
        } => {
            // Only what differs from the kernel's defaults: a kernel built without VLAN
            // filtering refuses the attribute even when it says "off".
            let mut o = Vec::new();
            if *stp {
                o.push(InfoBridge::StpState(BridgeStpState::KernelStp));
            }
            if *vlan_filtering {
                o.push(InfoBridge::VlanFiltering(true));
            }
            (InfoKind::Bridge, Some(InfoData::Bridge(o)))
        }
        LinkKind::Vlan { id, protocol, .. } => (
            InfoKind::Vlan,
            Some(InfoData::Vlan(vec![
                InfoVlan::Id(id.get()),
                InfoVlan::Protocol(match protocol {
                    VlanProtocol::Dot1Q => NlVlanProtocol::Ieee8021Q,
                    VlanProtocol::Dot1AD => NlVlanProtocol::Ieee8021Ad,
                }),
            ])),
        ),
        LinkKind::Bond {
            mode,
            miimon,
            lacp_rate,
            xmit_hash_policy,
        } => {
            let mut o = vec![InfoBond::Mode(NlBondMode::from(*mode as u8))];
            o.extend(miimon.map(InfoBond::MiiMon));
            o.extend(lacp_rate.map(|r| InfoBond::AdLacpRate(BondLacpRate::from(r as u8))));
            o.extend(
                xmit_hash_policy
                    .map(|p| InfoBond::XmitHashPolicy(BondXmitHashPolicy::from(p as u8))),
            );
            (InfoKind::Bond, Some(InfoData::Bond(o)))
        }
        LinkKind::Dummy => (InfoKind::Dummy, None),
        LinkKind::Vrf { table } => (
            InfoKind::Vrf,
            Some(InfoData::Vrf(vec![InfoVrf::TableId(*table)])),
        ),
        LinkKind::Veth { .. } => (InfoKind::Veth, None),
        // Keys and peers go over generic netlink once the link exists.
        LinkKind::Wireguard(_) => (InfoKind::Wireguard, None),
        LinkKind::Macvlan { mode, .. } => (
            InfoKind::MacVlan,
            Some(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::from(*mode as u32),
            )])),
        ),
    };
    let mut infos = vec![LinkInfo::Kind(k)];
    infos.extend(data.map(LinkInfo::Data));
    Some(infos)
}

fn common_attrs(l: &Link) -> Vec<LinkAttribute> {
    let mut a = vec![LinkAttribute::IfName(l.name.to_string())];
    a.extend(l.mtu.map(LinkAttribute::Mtu));
    a.extend(l.mac.map(|m| LinkAttribute::Address(m.0.to_vec())));
    a
}

/// RTM_NEWLINK changing a link found by its name, for links created in the same batch
/// (their index is not known yet).
pub fn set_by_name(name: &str, s: &Set) -> Request {
    let mut m = header(0, s.state);
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    m.attributes
        .extend(s.alias.map(|a| LinkAttribute::IfAlias(a.to_owned())));
    request(&m, RTM_NEWLINK, 0)
}

/// RTM_NEWLINK creating `l` (and its veth `peer`, down); `parent` is the index of its parent.
/// The kernel ignores an alias given at creation: set it with [`set_by_name`].
pub fn create(l: &Link, peer: Option<&Link>, parent: Option<u32>) -> Request {
    let mut m = header(0, Some(l.state));
    m.attributes = common_attrs(l);
    m.attributes.extend(parent.map(LinkAttribute::Link));
    let mut info = link_info(&l.kind).unwrap_or_default();
    if let Some(p) = peer {
        // The peer cannot come up before the pair is linked (ENOTCONN): it is created down
        // and brought up by a request of its own.
        let mut pm = header(0, None);
        pm.attributes = common_attrs(p);
        info.push(LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(pm))));
    }
    m.attributes.push(LinkAttribute::LinkInfo(info));
    request(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
}

pub fn delete(index: u32) -> Request {
    request(&header(index, None), RTM_DELLINK, 0)
}

/// RTM_NEWLINK changing attributes of an existing link; `None` leaves one as it is.
#[derive(Debug, Default)]
pub struct Set<'a> {
    pub state: Option<AdminState>,
    pub name: Option<&'a str>,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
    pub alias: Option<&'a str>,
    pub master: Option<u32>,
    pub kind: Option<&'a LinkKind>,
}

impl Set<'_> {
    /// Whether the request would change nothing.
    pub fn is_empty(&self) -> bool {
        self.state.is_none()
            && self.name.is_none()
            && self.mtu.is_none()
            && self.mac.is_none()
            && self.alias.is_none()
            && self.master.is_none()
            && self.kind.is_none()
    }
}

pub fn set(index: u32, s: &Set) -> Request {
    let mut m = header(index, s.state);
    m.attributes
        .extend(s.name.map(|n| LinkAttribute::IfName(n.to_owned())));
    m.attributes.extend(s.mtu.map(LinkAttribute::Mtu));
    m.attributes
        .extend(s.mac.map(|a| LinkAttribute::Address(a.0.to_vec())));
    m.attributes
        .extend(s.alias.map(|a| LinkAttribute::IfAlias(a.to_owned())));
    m.attributes.extend(s.master.map(LinkAttribute::Controller));
    m.attributes
        .extend(s.kind.and_then(link_info).map(LinkAttribute::LinkInfo));
    request(&m, RTM_NEWLINK, 0)
}

pub fn dump_request() -> Request {
    let m = LinkMessage::default();
    request(&m, RTM_GETLINK, 0)
}
