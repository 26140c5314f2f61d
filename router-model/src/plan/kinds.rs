//! Facts about links and their kinds that the phases share: identity, stacking depth,
//! masters, and the in-place changes from one link to another.

use std::collections::BTreeMap;

use crate::{AdminState, IfName, Link, LinkKind};

use super::op::{LinkChange, Op};

/// Whether two kinds are the same link as far as the kernel is concerned: options that
/// cannot change in place (VLAN id, parent, VRF table, bond mode...) must match.
pub(super) fn same_identity(desired: &LinkKind, current: &LinkKind) -> bool {
    match (desired, current) {
        (LinkKind::Bridge { .. }, LinkKind::Bridge { .. })
        | (LinkKind::Wireguard(_), LinkKind::Wireguard(_)) => true,
        (LinkKind::Bond { mode: a, .. }, LinkKind::Bond { mode: b, .. }) => a == b,
        (a, b) => a == b,
    }
}

pub(super) fn veth_peer(l: &Link) -> Option<&IfName> {
    match &l.kind {
        LinkKind::Veth { peer } => Some(peer),
        _ => None,
    }
}

/// How many parents a link stacks on.
pub(super) fn depth(links: &BTreeMap<IfName, Link>, name: &IfName) -> usize {
    let mut n = 0;
    let mut at = links.get(name);
    while let Some(p) = at.and_then(Link::parent) {
        n += 1;
        at = links.get(p);
        if n > links.len() {
            break;
        }
    }
    n
}

/// The links in stacking order, parents first, then by name.
pub(super) fn parents_first(links: &BTreeMap<IfName, Link>) -> Vec<&Link> {
    let mut all: Vec<&Link> = links.values().collect();
    all.sort_by_key(|d| (depth(links, &d.name), &d.name));
    all
}

pub(super) fn is_vrf(l: Option<&Link>) -> bool {
    matches!(
        l,
        Some(Link {
            kind: LinkKind::Vrf { .. },
            ..
        })
    )
}

pub(super) fn is_bond(l: Option<&Link>) -> bool {
    matches!(
        l,
        Some(Link {
            kind: LinkKind::Bond { .. },
            ..
        })
    )
}

/// The link as `CreateLink` makes it: no master or addresses yet, and down when it will be
/// enslaved (a bond takes only members that are down).
pub(super) fn as_created(d: &Link) -> Link {
    let mut l = d.clone();
    l.addresses.clear();
    l.master = None;
    if d.master.is_some() {
        l.state = AdminState::Down;
    }
    l
}

pub(super) fn state_change(link: &IfName, from: AdminState, to: AdminState) -> Op {
    Op::SetLink {
        link: link.clone(),
        change: Box::new(LinkChange {
            state: Some((from, to)),
            ..LinkChange::default()
        }),
    }
}

/// In-place changes from `cur` to `d`. A `None` MTU or MAC in `d` means "keep"; bringing a
/// link up waits until its memberships are set.
pub(super) fn link_change(d: &Link, cur: &Link) -> LinkChange {
    let mut c = LinkChange::default();
    if d.state == AdminState::Down && cur.state == AdminState::Up {
        c.state = Some((AdminState::Up, AdminState::Down));
    }
    if let (Some(want), Some(have)) = (d.mtu, cur.mtu) {
        if want != have {
            c.mtu = Some((have, want));
        }
    }
    if let (Some(want), Some(have)) = (d.mac, cur.mac) {
        if want != have {
            c.mac = Some((have, want));
        }
    }
    if d.description != cur.description {
        c.description = Some((cur.description.clone(), d.description.clone()));
    }
    let merged = merge_kind(&d.kind, &cur.kind);
    if merged != cur.kind {
        c.kind = Some((cur.kind.clone(), merged));
    }
    c
}

/// The current kind with the in-place options the config sets.
fn merge_kind(d: &LinkKind, cur: &LinkKind) -> LinkKind {
    match (d, cur) {
        (LinkKind::Bridge { .. }, LinkKind::Bridge { .. }) => d.clone(),
        // Keys, peers and endpoints change in place: no peer change recreates the link.
        (LinkKind::Wireguard(d), LinkKind::Wireguard(c)) => {
            LinkKind::Wireguard(Box::new(d.merged_onto(c)))
        }
        (
            LinkKind::Bond {
                miimon,
                lacp_rate,
                xmit_hash_policy,
                ..
            },
            LinkKind::Bond {
                mode,
                miimon: m0,
                lacp_rate: l0,
                xmit_hash_policy: x0,
            },
        ) => LinkKind::Bond {
            mode: *mode,
            miimon: miimon.or(*m0),
            lacp_rate: lacp_rate.or(*l0),
            xmit_hash_policy: xmit_hash_policy.or(*x0),
        },
        _ => cur.clone(),
    }
}
