//! One kernel change, with enough of the state before it to undo it.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::{
    wg_change, AdminState, Fwmark, IfName, Link, LinkKind, MacAddr, PeerText, Route, RouteType,
    Rule, RuleAction,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    SetHostname {
        from: Option<String>,
        to: String,
    },
    SetSysctl {
        key: String,
        from: String,
        to: String,
    },
    DelRule(Rule),
    AddRule(Rule),
    DelRoute(Route),
    AddRoute(Route),
    ReplaceRoute {
        from: Box<Route>,
        to: Box<Route>,
    },
    DelAddress {
        link: IfName,
        addr: IpNet,
    },
    AddAddress {
        link: IfName,
        addr: IpNet,
    },
    /// Enslave to `to`, or release when `to` is `None`.
    SetMaster {
        link: IfName,
        from: Option<IfName>,
        to: Option<IfName>,
    },
    /// Creates a link without master or addresses; a veth is created with its peer.
    CreateLink {
        link: Box<Link>,
        peer: Option<Box<Link>>,
    },
    DeleteLink {
        link: Box<Link>,
        peer: Option<Box<Link>>,
    },
    RenameLink {
        from: IfName,
        to: IfName,
    },
    SetLink {
        link: IfName,
        change: Box<LinkChange>,
    },
}

/// Attribute changes of one link, each as (before, after).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkChange {
    pub state: Option<(AdminState, AdminState)>,
    pub mtu: Option<(u32, u32)>,
    pub mac: Option<(MacAddr, MacAddr)>,
    pub description: Option<(Option<String>, Option<String>)>,
    /// Options of the link's kind that the kernel changes in place (bridge, bond).
    pub kind: Option<(LinkKind, LinkKind)>,
}

fn swap<T: Clone>(p: &Option<(T, T)>) -> Option<(T, T)> {
    p.as_ref().map(|(a, b)| (b.clone(), a.clone()))
}

impl LinkChange {
    pub fn is_empty(&self) -> bool {
        *self == LinkChange::default()
    }

    fn inverse(&self) -> LinkChange {
        LinkChange {
            state: swap(&self.state),
            mtu: swap(&self.mtu),
            mac: swap(&self.mac),
            description: swap(&self.description),
            kind: swap(&self.kind),
        }
    }
}

impl Op {
    /// The operation that undoes this one, given the state this one was planned against.
    pub fn inverse(&self) -> Op {
        match self.clone() {
            Op::SetHostname { from, to } => Op::SetHostname {
                from: Some(to),
                to: from.unwrap_or_default(),
            },
            Op::SetSysctl { key, from, to } => Op::SetSysctl {
                key,
                from: to,
                to: from,
            },
            Op::DelRule(r) => Op::AddRule(r),
            Op::AddRule(r) => Op::DelRule(r),
            Op::DelRoute(r) => Op::AddRoute(r),
            Op::AddRoute(r) => Op::DelRoute(r),
            Op::ReplaceRoute { from, to } => Op::ReplaceRoute { from: to, to: from },
            Op::DelAddress { link, addr } => Op::AddAddress { link, addr },
            Op::AddAddress { link, addr } => Op::DelAddress { link, addr },
            Op::SetMaster { link, from, to } => Op::SetMaster {
                link,
                from: to,
                to: from,
            },
            Op::CreateLink { link, peer } => Op::DeleteLink { link, peer },
            Op::DeleteLink { link, peer } => Op::CreateLink { link, peer },
            Op::RenameLink { from, to } => Op::RenameLink { from: to, to: from },
            Op::SetLink { link, change } => Op::SetLink {
                link,
                change: Box::new(change.inverse()),
            },
        }
    }

    /// Whether the op adds (`+`), changes (`~`) or removes (`-`) something.
    pub fn sign(&self) -> char {
        match self {
            Op::AddRule(_) | Op::AddRoute(_) | Op::AddAddress { .. } | Op::CreateLink { .. } => '+',
            Op::DelRule(_) | Op::DelRoute(_) | Op::DelAddress { .. } | Op::DeleteLink { .. } => '-',
            Op::SetMaster { to: None, .. } => '-',
            Op::SetMaster { from: None, .. } => '+',
            _ => '~',
        }
    }
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "none".to_owned(), |v| v.to_string())
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} ", self.sign())?;
        match self {
            Op::SetHostname { from, to } => write!(f, "hostname: {} -> {to}", opt(from)),
            Op::SetSysctl { key, from, to } => write!(f, "sysctl {key}: {from} -> {to}"),
            Op::DelRule(r) | Op::AddRule(r) => write!(f, "rule {}", RuleText(r)),
            Op::DelRoute(r) | Op::AddRoute(r) => write!(f, "route {}", RouteText(r)),
            Op::ReplaceRoute { from, to } => {
                write!(f, "route {} (was {})", RouteText(to), RouteText(from))
            }
            Op::DelAddress { link, addr } | Op::AddAddress { link, addr } => {
                write!(f, "address {addr} on {link}")
            }
            Op::SetMaster { link, from, to } => match (from, to) {
                (_, Some(m)) => write!(f, "link {link}: master {} -> {m}", opt(from)),
                (Some(m), None) => write!(f, "link {link}: release from {m}"),
                (None, None) => write!(f, "link {link}: no master"),
            },
            Op::CreateLink { link, peer } | Op::DeleteLink { link, peer } => {
                write!(f, "link {} ({})", link.name, KindText(&link.kind))?;
                if let Some(p) = peer {
                    write!(f, " with peer {}", p.name)?;
                }
                Ok(())
            }
            Op::RenameLink { from, to } => write!(f, "link {from}: rename to {to}"),
            Op::SetLink { link, change } => {
                write!(f, "link {link}:")?;
                if let Some((a, b)) = &change.state {
                    write!(f, " state {} -> {}", state(*a), state(*b))?;
                }
                if let Some((a, b)) = &change.mtu {
                    write!(f, " mtu {a} -> {b}")?;
                }
                if let Some((a, b)) = &change.mac {
                    write!(f, " mac {a} -> {b}")?;
                }
                if let Some((a, b)) = &change.description {
                    let text = |d: &Option<String>| format!("{:?}", d.as_deref().unwrap_or(""));
                    write!(f, " description {} -> {}", text(a), text(b))?;
                }
                match &change.kind {
                    // Only what changes: a device's peers can be many, its keys secret.
                    Some((LinkKind::Wireguard(a), LinkKind::Wireguard(b))) => {
                        write!(f, " wireguard{}", wg_change(a, b))?;
                    }
                    Some((a, b)) => write!(f, " {} -> {}", KindText(a), KindText(b))?,
                    None => {}
                }
                Ok(())
            }
        }
    }
}

fn state(s: AdminState) -> &'static str {
    match s {
        AdminState::Up => "up",
        AdminState::Down => "down",
    }
}

/// A value as the config spells it ("802.3ad", "layer3+4", "ipv4").
fn word<T: serde::Serialize>(v: &T) -> String {
    match toml::Value::try_from(v) {
        Ok(toml::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A link kind with its options, in `ip link` words.
#[derive(Debug)]
pub struct KindText<'a>(pub &'a LinkKind);

impl fmt::Display for KindText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0.name())?;
        match self.0 {
            LinkKind::Loopback | LinkKind::Dummy | LinkKind::Physical { match_mac: None } => Ok(()),
            LinkKind::Physical { match_mac: Some(m) } => write!(f, " matching {m}"),
            LinkKind::Bridge {
                stp,
                vlan_filtering,
            } => {
                write!(
                    f,
                    " stp {} vlan_filtering {}",
                    u8::from(*stp),
                    u8::from(*vlan_filtering)
                )
            }
            LinkKind::Vlan {
                parent,
                id,
                protocol,
            } => {
                write!(f, " id {id} on {parent}")?;
                if !protocol.is_default() {
                    f.write_str(" 802.1ad")?;
                }
                Ok(())
            }
            LinkKind::Bond {
                mode,
                miimon,
                lacp_rate,
                xmit_hash_policy,
            } => {
                write!(f, " mode {}", word(mode))?;
                if let Some(m) = miimon {
                    write!(f, " miimon {m}")?;
                }
                if let Some(r) = lacp_rate {
                    write!(f, " lacp_rate {}", word(r))?;
                }
                if let Some(p) = xmit_hash_policy {
                    write!(f, " xmit_hash_policy {}", word(p))?;
                }
                Ok(())
            }
            LinkKind::Vrf { table } => write!(f, " table {table}"),
            LinkKind::Veth { peer } => write!(f, " peer {peer}"),
            LinkKind::Macvlan { parent, mode } => write!(f, " on {parent} mode {}", word(mode)),
            LinkKind::Wireguard(wg) => {
                if let Some(p) = wg.listen_port {
                    write!(f, " listen_port {p}")?;
                }
                if let Some(m) = wg.fwmark {
                    write!(f, " fwmark {m:#x}")?;
                }
                for p in &wg.peers {
                    write!(f, " peer {}", PeerText(p))?;
                }
                Ok(())
            }
        }
    }
}

/// A route in `ip route` words.
#[derive(Debug)]
pub struct RouteText<'a>(pub &'a Route);

impl fmt::Display for RouteText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let r = self.0;
        if r.kind != RouteType::Unicast {
            write!(f, "{} ", format!("{:?}", r.kind).to_lowercase())?;
        }
        write!(f, "{}", r.key.dst)?;
        hop(f, r.via, r.dev.as_ref(), r.onlink)?;
        for nh in &r.nexthops {
            f.write_str(" nexthop")?;
            hop(f, nh.via, nh.dev.as_ref(), nh.onlink)?;
            write!(f, " weight {}", nh.weight)?;
        }
        if let Some(s) = r.src {
            write!(f, " src {s}")?;
        }
        write!(f, " table {} metric {}", r.key.table, r.key.metric)
    }
}

fn hop(
    f: &mut fmt::Formatter,
    via: Option<IpAddr>,
    dev: Option<&IfName>,
    onlink: bool,
) -> fmt::Result {
    if let Some(v) = via {
        write!(f, " via {v}")?;
    }
    if let Some(d) = dev {
        write!(f, " dev {d}")?;
    }
    if onlink {
        f.write_str(" onlink")?;
    }
    Ok(())
}

/// A rule in `ip rule` words.
#[derive(Debug)]
pub struct RuleText<'a>(pub &'a Rule);

impl fmt::Display for RuleText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let r = self.0;
        write!(f, "{} {}", r.priority, word(&r.family))?;
        if let Some(n) = r.from {
            write!(f, " from {n}")?;
        }
        if let Some(n) = r.to {
            write!(f, " to {n}")?;
        }
        if let Some(d) = &r.iif {
            write!(f, " iif {d}")?;
        }
        if let Some(d) = &r.oif {
            write!(f, " oif {d}")?;
        }
        if let Some(Fwmark { value, mask }) = r.fwmark {
            write!(f, " fwmark {value:#x}/{:#x}", mask.unwrap_or(u32::MAX))?;
        }
        match r.action {
            RuleAction::Lookup => write!(f, " lookup {}", r.table),
            a => write!(f, " {}", format!("{a:?}").to_lowercase()),
        }
    }
}
