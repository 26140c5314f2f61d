//! diff(desired, current) -> ordered operations. Pure: the kernel is never consulted.
//!
//! Links are tracked through the plan in a working copy, so each phase sees the state the
//! earlier phases leave behind. Routes are compared directly (there can be millions).

use std::collections::{BTreeMap, HashSet};

use crate::{AdminState, IfName, Link, LinkKind, NetState, Route, RouteMap, Rule};

use super::links::Working;
use super::op::{LinkChange, Op};
use super::{Plan, PlanError};

/// What happens to a link that exists now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Stays, possibly changed in place.
    Keep,
    /// Deleted, and created again because its kind changed or its parent goes.
    Recreate,
    Delete,
    /// Not in the config and not the agent's to delete (loopback, NICs).
    Unmanaged,
}

pub fn diff(desired: &NetState, current: &NetState) -> Result<Plan, PlanError> {
    let renames = find_renames(desired, current)?;
    let target = |name: &IfName| renames.get(name).unwrap_or(name).clone();
    let fates = link_fates(desired, current, &target)?;
    let gone: HashSet<&IfName> = fates
        .iter()
        .filter(|(n, f)| matches!(f, Fate::Recreate | Fate::Delete) || renames.contains_key(*n))
        .map(|(n, _)| n)
        .collect();
    let mut ops = Vec::new();

    // Teardown: rules, routes, addresses and memberships that go, then the links.
    let desired_rules: HashSet<&Rule> = desired.rules.iter().collect();
    let current_rules: HashSet<&Rule> = current.rules.iter().collect();
    ops.extend(
        current
            .rules
            .iter()
            .filter(|r| !desired_rules.contains(r))
            .cloned()
            .map(Op::DelRule),
    );

    // Routes go when the config drops them or their link goes; they come (back) when new,
    // different, or on a link that is recreated. In key order, as the maps are.
    let uses_gone = |r: &Route| !gone.is_empty() && route_devs(r).any(|d| gone.contains(d));
    let mut deleted_routes: Vec<&Route> = Vec::new();
    let mut changed: Vec<(&Route, Option<&Route>)> = Vec::new();
    for (d, c) in route_pairs(&desired.routes, &current.routes) {
        match (d, c) {
            (None, Some(c)) => deleted_routes.push(c),
            (Some(d), Some(c)) if uses_gone(c) => {
                deleted_routes.push(c);
                changed.push((d, None));
            }
            (Some(d), Some(c)) if route_matches(d, c) => {}
            (Some(d), c) => changed.push((d, c)),
            (None, None) => {}
        }
    }
    ops.extend(deleted_routes.iter().map(|r| Op::DelRoute((*r).clone())));

    let mut work = Working::new(current.links.clone());
    for (name, fate) in &fates {
        let link = &current.links[name];
        let wanted: Vec<_> = match (fate, desired.links.get(&target(name))) {
            (Fate::Keep, Some(d)) => d.addresses.clone(),
            (Fate::Unmanaged, _) => continue,
            _ => Vec::new(),
        };
        for addr in link.addresses.iter().filter(|a| !wanted.contains(a)) {
            ops.push(Op::DelAddress {
                link: name.clone(),
                addr: *addr,
            });
        }
        if let Some(l) = work.links.get_mut(name) {
            l.addresses.retain(|a| wanted.contains(a));
        }
    }
    // Where the deletions of the IPv6 addresses that the kernel will flush go, once the
    // link phases below have shown which links go down.
    let flush_at = ops.len();
    for (name, fate) in &fates {
        let Some(master) = current.links[name].master.clone() else {
            continue;
        };
        let release = match fate {
            Fate::Recreate | Fate::Delete => true,
            // The master's member list is config even when the member itself is not.
            Fate::Unmanaged => gone.contains(&master) || desired.links.contains_key(&master),
            Fate::Keep => {
                gone.contains(&master)
                    || desired
                        .links
                        .get(&target(name))
                        .and_then(|d| d.master.as_ref())
                        != Some(&master)
            }
        };
        if release {
            let from_bond = is_bond(current.links.get(&master));
            let from_vrf = is_vrf(current.links.get(&master));
            ops.push(Op::SetMaster {
                link: name.clone(),
                from: Some(master),
                to: None,
            });
            if let Some(l) = work.links.get_mut(name) {
                l.master = None;
            }
            // The kernel closes a link it releases from a bond, and cycles one leaving a VRF.
            if from_bond {
                work.set_state(name, AdminState::Down);
            } else if from_vrf {
                work.cycle(name);
            }
        }
    }
    let mut doomed: Vec<&IfName> = fates
        .iter()
        .filter(|(_, f)| matches!(f, Fate::Recreate | Fate::Delete))
        .map(|(n, _)| n)
        .collect();
    doomed.sort_by_key(|n| (std::cmp::Reverse(depth(&current.links, n)), *n));
    for name in doomed {
        let Some(link) = work.links.remove(name) else {
            continue;
        };
        let peer = veth_peer(&link).and_then(|p| work.links.remove(p));
        ops.push(Op::DeleteLink {
            link: Box::new(link),
            peer: peer.map(Box::new),
        });
    }

    // Global settings.
    if let Some(to) = &desired.hostname {
        if current.hostname.as_ref() != Some(to) {
            ops.push(Op::SetHostname {
                from: current.hostname.clone(),
                to: to.clone(),
            });
        }
    }
    for (key, to) in &desired.sysctl {
        let from = current
            .sysctl
            .get(key)
            .ok_or_else(|| PlanError::UnknownSysctl { key: key.clone() })?;
        if from != to {
            ops.push(Op::SetSysctl {
                key: key.clone(),
                from: from.clone(),
                to: to.clone(),
            });
        }
    }

    // Links: renames, creations (parents first), changes, memberships, then up.
    for (from, to) in &renames {
        if work.links.contains_key(to) {
            return Err(PlanError::NameTaken {
                name: to.clone(),
                by_mac_of: from.clone(),
            });
        }
        // The kernel renames only links that are down; the up phase below restores it.
        if work.state(from) == Some(AdminState::Up) {
            ops.push(state_change(from, AdminState::Up, AdminState::Down));
            work.set_state(from, AdminState::Down);
        }
        if let Some(mut l) = work.links.remove(from) {
            l.name = to.clone();
            work.links.insert(to.clone(), l);
        }
        ops.push(Op::RenameLink {
            from: from.clone(),
            to: to.clone(),
        });
    }
    // In-place changes of existing links, before creations so that a new VLAN finds its
    // parent's MTU already raised. A VLAN's MTU cannot exceed its parent's: raise parents
    // first, lower children first (so the revert, run backwards, keeps the order too).
    let mut changes: Vec<(bool, isize, Op)> = Vec::new();
    for d in desired.links.values() {
        let Some(cur) = work.links.get(&d.name) else {
            continue;
        };
        let change = link_change(d, cur);
        if !change.is_empty() {
            let lowers = change.mtu.is_some_and(|(a, b)| b < a);
            let depth = isize::try_from(depth(&work.links, &d.name)).unwrap_or(isize::MAX);
            let order = if lowers { -depth } else { depth };
            changes.push((
                !lowers,
                order,
                Op::SetLink {
                    link: d.name.clone(),
                    change: Box::new(change),
                },
            ));
        }
    }
    changes.sort_by_key(|(raises, order, _)| (*raises, *order));
    for (_, _, mut op) in changes {
        if let Op::SetLink { link, change } = &mut op {
            if let Some((_, to)) = change.state {
                // A VLAN whose parent went down just before is down already.
                if work.state(link) == Some(to) {
                    change.state = None;
                }
                work.set_state(link, to);
            }
            if change.is_empty() {
                continue;
            }
        }
        ops.push(op);
    }
    let mut created: Vec<&Link> = desired
        .links
        .values()
        .filter(|d| !work.links.contains_key(&d.name))
        .collect();
    created.sort_by_key(|d| (depth(&desired.links, &d.name), &d.name));
    for d in created {
        if work.links.contains_key(&d.name) {
            continue; // created with its veth peer
        }
        if !d.is_virtual() {
            return Err(PlanError::MissingInterface {
                name: d.name.clone(),
            });
        }
        let mut link = as_created(d);
        // The kernel refuses a VLAN or macvlan created up on a parent that is down (the
        // parent may be down just for its rename): such a child comes up in the up phase.
        if d.parent()
            .is_some_and(|p| work.state(p) == Some(AdminState::Down))
        {
            link.state = AdminState::Down;
        }
        let peer = veth_peer(d)
            .and_then(|p| desired.links.get(p))
            .map(as_created);
        for l in std::iter::once(&link).chain(&peer) {
            work.links.insert(l.name.clone(), l.clone());
        }
        ops.push(Op::CreateLink {
            link: Box::new(link),
            peer: peer.map(Box::new),
        });
    }
    for d in desired.links.values() {
        let cur = &work.links[&d.name];
        if d.master.is_some() && cur.master != d.master {
            let master = d.master.as_ref().and_then(|m| desired.links.get(m));
            // A bond takes only members that are down, and brings them up itself.
            if cur.state == AdminState::Up && is_bond(master) {
                ops.push(state_change(&d.name, AdminState::Up, AdminState::Down));
                work.set_state(&d.name, AdminState::Down);
            }
            let cur = &work.links[&d.name];
            ops.push(Op::SetMaster {
                link: d.name.clone(),
                from: cur.master.clone(),
                to: d.master.clone(),
            });
            if let Some(l) = work.links.get_mut(&d.name) {
                l.master.clone_from(&d.master);
            }
            if is_bond(master) {
                work.set_state(&d.name, AdminState::Up);
            } else if is_vrf(master) {
                work.cycle(&d.name);
            }
        }
    }
    // Parents before children: a child cannot come up on a parent that is down.
    let mut ups: Vec<&Link> = desired.links.values().collect();
    ups.sort_by_key(|d| (depth(&desired.links, &d.name), &d.name));
    for d in &ups {
        if d.state == AdminState::Up && work.state(&d.name) == Some(AdminState::Down) {
            ops.push(state_change(&d.name, AdminState::Down, AdminState::Up));
            work.set_state(&d.name, AdminState::Up);
        }
    }
    // Links the config wants down that the kernel brought up along with their parent (a
    // VLAN) or by enslaving them (a bond member) go down again, parents first.
    for d in &ups {
        if d.state == AdminState::Down && work.state(&d.name) == Some(AdminState::Up) {
            ops.push(state_change(&d.name, AdminState::Up, AdminState::Down));
            work.set_state(&d.name, AdminState::Down);
        }
    }

    // The kernel's flushes, as explicit deletions before any link goes down (by the names
    // the links have then).
    let old_name: BTreeMap<&IfName, &IfName> = renames.iter().map(|(o, n)| (n, o)).collect();
    let flushes = work.flushed.iter().map(|(link, addr)| Op::DelAddress {
        link: (*old_name.get(link).unwrap_or(&link)).clone(),
        addr: *addr,
    });
    ops.splice(flush_at..flush_at, flushes.collect::<Vec<_>>());
    for d in desired.links.values() {
        let have = &work.links[&d.name].addresses;
        for addr in d.addresses.iter().filter(|a| !have.contains(a)) {
            ops.push(Op::AddAddress {
                link: d.name.clone(),
                addr: *addr,
            });
        }
    }

    // Routes after the addresses that make their gateways reachable, then rules.
    ops.reserve(changed.len());
    ops.extend(changed.into_iter().map(|(d, c)| match c {
        Some(c) => Op::ReplaceRoute {
            from: Box::new(c.clone()),
            to: Box::new(d.clone()),
        },
        None => Op::AddRoute(d.clone()),
    }));
    ops.extend(
        desired
            .rules
            .iter()
            .filter(|r| !current_rules.contains(r))
            .cloned()
            .map(Op::AddRule),
    );
    Ok(Plan { ops })
}

/// Physical links the config names differently from the kernel, found by MAC: old -> new.
fn find_renames(
    desired: &NetState,
    current: &NetState,
) -> Result<BTreeMap<IfName, IfName>, PlanError> {
    let mut renames = BTreeMap::new();
    for d in desired.links.values() {
        let LinkKind::Physical {
            match_mac: Some(mac),
        } = &d.kind
        else {
            continue;
        };
        let found = current
            .links
            .values()
            .find(|c| matches!(&c.kind, LinkKind::Physical { match_mac: Some(m) } if m == mac));
        match found {
            Some(c) if c.name != d.name => {
                renames.insert(c.name.clone(), d.name.clone());
            }
            Some(_) => {}
            None if current.links.contains_key(&d.name) => {}
            None => {
                return Err(PlanError::NoSuchMac {
                    name: d.name.clone(),
                    mac: *mac,
                })
            }
        }
    }
    let renamed = super::renames::virtual_renames(desired, current, &renames);
    renames.extend(renamed);
    Ok(renames)
}

fn link_fates(
    desired: &NetState,
    current: &NetState,
    target: &dyn Fn(&IfName) -> IfName,
) -> Result<BTreeMap<IfName, Fate>, PlanError> {
    let mut fates = BTreeMap::new();
    for c in current.links.values() {
        let fate = match desired.links.get(&target(&c.name)) {
            None if c.is_virtual() => Fate::Delete,
            None => Fate::Unmanaged,
            Some(d) if !d.is_virtual() => Fate::Keep,
            Some(d) if !c.is_virtual() => {
                return Err(PlanError::NotVirtual {
                    name: c.name.clone(),
                    kind: d.kind.name(),
                })
            }
            Some(d) if same_identity(&d.kind, &c.kind) => Fate::Keep,
            Some(_) => Fate::Recreate,
        };
        fates.insert(c.name.clone(), fate);
    }
    // A link goes with its parent, and a veth with its peer.
    loop {
        let mut changed = false;
        for c in current.links.values() {
            if fates[&c.name] != Fate::Keep {
                continue;
            }
            let dep = c.parent().or_else(|| veth_peer(c));
            if dep.is_some_and(|p| matches!(fates.get(p), Some(Fate::Recreate | Fate::Delete))) {
                fates.insert(c.name.clone(), Fate::Recreate);
                changed = true;
            }
        }
        if !changed {
            return Ok(fates);
        }
    }
}

/// Whether two kinds are the same link as far as the kernel is concerned: options that
/// cannot change in place (VLAN id, parent, VRF table, bond mode...) must match.
fn same_identity(desired: &LinkKind, current: &LinkKind) -> bool {
    match (desired, current) {
        (LinkKind::Bridge { .. }, LinkKind::Bridge { .. })
        | (LinkKind::Wireguard(_), LinkKind::Wireguard(_)) => true,
        (LinkKind::Bond { mode: a, .. }, LinkKind::Bond { mode: b, .. }) => a == b,
        (a, b) => a == b,
    }
}

fn veth_peer(l: &Link) -> Option<&IfName> {
    match &l.kind {
        LinkKind::Veth { peer } => Some(peer),
        _ => None,
    }
}

/// How many parents a link stacks on.
fn depth(links: &BTreeMap<IfName, Link>, name: &IfName) -> usize {
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

fn is_vrf(l: Option<&Link>) -> bool {
    matches!(
        l,
        Some(Link {
            kind: LinkKind::Vrf { .. },
            ..
        })
    )
}

fn is_bond(l: Option<&Link>) -> bool {
    matches!(
        l,
        Some(Link {
            kind: LinkKind::Bond { .. },
            ..
        })
    )
}

/// Whether the current route `c` is what `d` asks for. A gateway without `dev` leaves the
/// device to the kernel, which always reports the one it picked.
pub fn route_matches(d: &Route, c: &Route) -> bool {
    let dev_ok = |want: &Option<IfName>, via: &Option<std::net::IpAddr>, have: &Option<IfName>| {
        want == have || (want.is_none() && via.is_some())
    };
    d == c
        || (d.key == c.key
            && d.kind == c.kind
            && d.via == c.via
            && d.onlink == c.onlink
            && d.src == c.src
            && dev_ok(&d.dev, &d.via, &c.dev)
            && d.nexthops.len() == c.nexthops.len()
            && d.nexthops.iter().zip(&c.nexthops).all(|(a, b)| {
                a.via == b.via
                    && a.weight == b.weight
                    && a.onlink == b.onlink
                    && dev_ok(&a.dev, &a.via, &b.dev)
            }))
}

/// The routes of two maps side by side, in key order: (desired, current) with one key,
/// either `None` where its map lacks the key. A merge, not a lookup per route.
fn route_pairs<'a>(
    desired: &'a RouteMap,
    current: &'a RouteMap,
) -> impl Iterator<Item = (Option<&'a Route>, Option<&'a Route>)> {
    let (mut d, mut c) = (desired.values().peekable(), current.values().peekable());
    std::iter::from_fn(move || match (d.peek(), c.peek()) {
        (None, None) => None,
        (Some(x), Some(y)) if x.key == y.key => Some((d.next(), c.next())),
        (Some(x), Some(y)) if x.key > y.key => Some((None, c.next())),
        (Some(_), _) => Some((d.next(), None)),
        (None, Some(_)) => Some((None, c.next())),
    })
}

fn route_devs(r: &Route) -> impl Iterator<Item = &IfName> {
    r.dev
        .iter()
        .chain(r.nexthops.iter().filter_map(|n| n.dev.as_ref()))
}

/// The link as `CreateLink` makes it: no master or addresses yet, and down when it will be
/// enslaved (a bond takes only members that are down).
fn as_created(d: &Link) -> Link {
    let mut l = d.clone();
    l.addresses.clear();
    l.master = None;
    if d.master.is_some() {
        l.state = AdminState::Down;
    }
    l
}

fn state_change(link: &IfName, from: AdminState, to: AdminState) -> Op {
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
fn link_change(d: &Link, cur: &Link) -> LinkChange {
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
