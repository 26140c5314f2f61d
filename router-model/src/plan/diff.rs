//! diff(desired, current) -> ordered operations. Pure: the kernel is never consulted.
//!
//! A [`Planner`] runs one method per phase, in this order:
//!
//! 1. teardown, from the top of the stack down: rules that go ([`Planner::del_rules`]), routes
//!    that go ([`Planner::del_routes`]), addresses that go ([`Planner::del_addresses`]),
//!    memberships that end ([`Planner::release_members`]), links deleted, the most deeply
//!    stacked first ([`Planner::delete_links`]);
//! 2. globals: hostname and sysctls ([`Planner::set_hostname`], [`Planner::set_sysctls`]);
//! 3. links, from the bottom up: renames of NICs found by MAC ([`Planner::rename_links`]),
//!    in-place changes ([`Planner::change_links`]), creations, parents first
//!    ([`Planner::create_links`]), memberships ([`Planner::enslave`]), links up, parents
//!    first ([`Planner::bring_up`]), then down again those the kernel brought up by itself
//!    ([`Planner::take_down`]);
//! 4. the IPv6 addresses the kernel flushes on the way, as explicit deletions in front of
//!    the memberships ([`Planner::splice_flushes`]);
//! 5. addresses ([`Planner::add_addresses`]), routes ([`Planner::add_routes`]), rules
//!    ([`Planner::add_rules`]).
//!
//! Why this order: the kernel refuses (or silently drops) anything placed on something not
//! there yet. An address needs its link, a route the link and the address that makes its
//! gateway reachable, a rule may point at a table those routes fill; a child link needs its
//! parent, a member its master. So creation goes links, addresses, routes, rules, and
//! teardown the reverse: rules, routes, addresses, memberships, links, since deleting a link
//! would take its routes and addresses along unplanned (and the revert would not know them).
//! The revert plan is every operation's inverse, last first, so it keeps the order too.
//!
//! Links are tracked through the plan in a working copy, so each phase sees the state the
//! earlier phases leave behind. Routes are compared directly (there can be millions).

use std::collections::{BTreeMap, HashSet};

use crate::{AdminState, IfName, Link, NetState, Route, Rule};

use super::fates::{find_renames, link_fates, Fate};
use super::kinds::{
    as_created, depth, is_bond, is_vrf, link_change, parents_first, state_change, veth_peer,
};
use super::links::Working;
use super::op::Op;
use super::routes::{route_devs, route_matches, route_pairs};
use super::{Plan, PlanError};

pub fn diff(desired: &NetState, current: &NetState) -> Result<Plan, PlanError> {
    let mut p = Planner::new(desired, current)?;
    p.del_rules();
    let routes = p.del_routes();
    p.del_addresses();
    let flush_at = p.ops.len();
    p.release_members();
    p.delete_links();
    p.set_hostname();
    p.set_sysctls()?;
    p.rename_links()?;
    p.change_links();
    p.create_links()?;
    p.enslave();
    p.bring_up();
    p.take_down();
    p.splice_flushes(flush_at);
    p.add_addresses();
    p.add_routes(routes);
    p.add_rules();
    Ok(Plan { ops: p.ops })
}

/// Routes to write once the links and addresses are there: the desired route, and the
/// current one it replaces (`None`: added).
type RouteWrites<'a> = Vec<(&'a Route, Option<&'a Route>)>;

/// The plan as it grows, with what the phases share.
struct Planner<'a> {
    desired: &'a NetState,
    current: &'a NetState,
    /// Physical links the config names differently, found by MAC: old name -> new.
    renames: BTreeMap<IfName, IfName>,
    /// What becomes of each current link, by its current name.
    fates: BTreeMap<IfName, Fate>,
    /// Current links that go or change their name: what refers to them goes first.
    gone: HashSet<&'a IfName>,
    /// The links as the operations so far leave them.
    work: Working,
    ops: Vec<Op>,
}

impl<'a> Planner<'a> {
    fn new(desired: &'a NetState, current: &'a NetState) -> Result<Self, PlanError> {
        let renames = find_renames(desired, current)?;
        let fates = link_fates(desired, current, &renames)?;
        let gone = current
            .links
            .values()
            .map(|l| &l.name)
            .filter(|n| fates[*n].deletes() || renames.contains_key(*n))
            .collect();
        Ok(Planner {
            desired,
            current,
            renames,
            fates,
            gone,
            work: Working::new(current.links.clone()),
            ops: Vec::new(),
        })
    }

    /// The name the config gives the current link `name`.
    fn target<'n>(&'n self, name: &'n IfName) -> &'n IfName {
        self.renames.get(name).unwrap_or(name)
    }

    fn del_rules(&mut self) {
        let desired: HashSet<&Rule> = self.desired.rules.iter().collect();
        let gone = self.current.rules.iter().filter(|r| !desired.contains(r));
        self.ops.extend(gone.cloned().map(Op::DelRule));
    }

    /// Routes go when the config drops them or their link goes; they come (back) when new,
    /// different, or on a link that is recreated. In key order, as the maps are. Returns
    /// the ones to write later.
    fn del_routes(&mut self) -> RouteWrites<'a> {
        let gone = &self.gone;
        let uses_gone = |r: &Route| !gone.is_empty() && route_devs(r).any(|d| gone.contains(d));
        let mut deleted: Vec<&Route> = Vec::new();
        let mut writes = Vec::new();
        for (d, c) in route_pairs(&self.desired.routes, &self.current.routes) {
            match (d, c) {
                (None, Some(c)) => deleted.push(c),
                (Some(d), Some(c)) if uses_gone(c) => {
                    deleted.push(c);
                    writes.push((d, None));
                }
                (Some(d), Some(c)) if route_matches(d, c) => {}
                (Some(d), c) => writes.push((d, c)),
                (None, None) => {}
            }
        }
        self.ops
            .extend(deleted.iter().map(|r| Op::DelRoute((*r).clone())));
        writes
    }

    /// Addresses the config drops, and every address of a link that goes.
    fn del_addresses(&mut self) {
        for (name, fate) in &self.fates {
            let link = &self.current.links[name];
            let wanted: Vec<_> = match (fate, self.desired.links.get(self.target(name))) {
                (Fate::Keep, Some(d)) => d.addresses.clone(),
                (Fate::Unmanaged, _) => continue,
                _ => Vec::new(),
            };
            for addr in link.addresses.iter().filter(|a| !wanted.contains(a)) {
                self.ops.push(Op::DelAddress {
                    link: name.clone(),
                    addr: *addr,
                });
            }
            if let Some(l) = self.work.links.get_mut(name) {
                l.addresses.retain(|a| wanted.contains(a));
            }
        }
    }

    /// Links leave a master that goes, or that the config no longer gives them.
    fn release_members(&mut self) {
        for (name, fate) in &self.fates {
            let Some(master) = self.current.links[name].master.clone() else {
                continue;
            };
            let release = match fate {
                Fate::Recreate | Fate::Delete => true,
                // The master's member list is config even when the member itself is not.
                Fate::Unmanaged => {
                    self.gone.contains(&master) || self.desired.links.contains_key(&master)
                }
                Fate::Keep => {
                    self.gone.contains(&master)
                        || self
                            .desired
                            .links
                            .get(self.target(name))
                            .and_then(|d| d.master.as_ref())
                            != Some(&master)
                }
            };
            if !release {
                continue;
            }
            let from_bond = is_bond(self.current.links.get(&master));
            let from_vrf = is_vrf(self.current.links.get(&master));
            self.ops.push(Op::SetMaster {
                link: name.clone(),
                from: Some(master),
                to: None,
            });
            if let Some(l) = self.work.links.get_mut(name) {
                l.master = None;
            }
            // The kernel closes a link it releases from a bond, and cycles one leaving a VRF.
            if from_bond {
                self.work.set_state(name, AdminState::Down);
            } else if from_vrf {
                self.work.cycle(name);
            }
        }
    }

    /// Links that go or are recreated, the most deeply stacked first; a veth with its peer.
    fn delete_links(&mut self) {
        let mut doomed: Vec<&IfName> = self
            .fates
            .iter()
            .filter(|(_, f)| f.deletes())
            .map(|(n, _)| n)
            .collect();
        doomed.sort_by_key(|n| (std::cmp::Reverse(depth(&self.current.links, n)), *n));
        for name in doomed {
            let Some(link) = self.work.links.remove(name) else {
                continue;
            };
            let peer = veth_peer(&link).and_then(|p| self.work.links.remove(p));
            self.ops.push(Op::DeleteLink {
                link: Box::new(link),
                peer: peer.map(Box::new),
            });
        }
    }

    fn set_hostname(&mut self) {
        let Some(to) = &self.desired.hostname else {
            return;
        };
        if self.current.hostname.as_ref() != Some(to) {
            self.ops.push(Op::SetHostname {
                from: self.current.hostname.clone(),
                to: to.clone(),
            });
        }
    }

    fn set_sysctls(&mut self) -> Result<(), PlanError> {
        for (key, to) in &self.desired.sysctl {
            let from = self
                .current
                .sysctl
                .get(key)
                .ok_or_else(|| PlanError::UnknownSysctl { key: key.clone() })?;
            if from != to {
                self.ops.push(Op::SetSysctl {
                    key: key.clone(),
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
        Ok(())
    }

    /// NICs the config finds by MAC take their new names.
    fn rename_links(&mut self) -> Result<(), PlanError> {
        for (from, to) in &self.renames {
            if self.work.links.contains_key(to) {
                return Err(PlanError::NameTaken {
                    name: to.clone(),
                    by_mac_of: from.clone(),
                });
            }
            // The kernel renames only links that are down; the up phase restores it.
            if self.work.state(from) == Some(AdminState::Up) {
                self.ops
                    .push(state_change(from, AdminState::Up, AdminState::Down));
                self.work.set_state(from, AdminState::Down);
            }
            if let Some(mut l) = self.work.links.remove(from) {
                l.name = to.clone();
                self.work.links.insert(to.clone(), l);
            }
            self.ops.push(Op::RenameLink {
                from: from.clone(),
                to: to.clone(),
            });
        }
        Ok(())
    }

    /// In-place changes of existing links, before creations so that a new VLAN finds its
    /// parent's MTU already raised. A VLAN's MTU cannot exceed its parent's: raise parents
    /// first, lower children first (so the revert, run backwards, keeps the order too).
    fn change_links(&mut self) {
        let mut changes: Vec<(bool, isize, Op)> = Vec::new();
        for d in self.desired.links.values() {
            let Some(cur) = self.work.links.get(&d.name) else {
                continue;
            };
            let change = link_change(d, cur);
            if !change.is_empty() {
                let lowers = change.mtu.is_some_and(|(a, b)| b < a);
                let depth = isize::try_from(depth(&self.work.links, &d.name)).unwrap_or(isize::MAX);
                let order = if lowers { -depth } else { depth };
                let op = Op::SetLink {
                    link: d.name.clone(),
                    change: Box::new(change),
                };
                changes.push((!lowers, order, op));
            }
        }
        changes.sort_by_key(|(raises, order, _)| (*raises, *order));
        for (_, _, mut op) in changes {
            if let Op::SetLink { link, change } = &mut op {
                if let Some((_, to)) = change.state {
                    // A VLAN whose parent went down just before is down already.
                    if self.work.state(link) == Some(to) {
                        change.state = None;
                    }
                    self.work.set_state(link, to);
                }
                if change.is_empty() {
                    continue;
                }
            }
            self.ops.push(op);
        }
    }

    /// Links the config has and the kernel does not, parents first; a veth with its peer.
    fn create_links(&mut self) -> Result<(), PlanError> {
        let desired = self.desired;
        let created: Vec<&Link> = parents_first(&desired.links)
            .into_iter()
            .filter(|d| !self.work.links.contains_key(&d.name))
            .collect();
        for d in created {
            if self.work.links.contains_key(&d.name) {
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
                .is_some_and(|p| self.work.state(p) == Some(AdminState::Down))
            {
                link.state = AdminState::Down;
            }
            let peer = veth_peer(d)
                .and_then(|p| desired.links.get(p))
                .map(as_created);
            for l in std::iter::once(&link).chain(&peer) {
                self.work.links.insert(l.name.clone(), l.clone());
            }
            self.ops.push(Op::CreateLink {
                link: Box::new(link),
                peer: peer.map(Box::new),
            });
        }
        Ok(())
    }

    /// Links join the master the config gives them.
    fn enslave(&mut self) {
        for d in self.desired.links.values() {
            let cur = &self.work.links[&d.name];
            if d.master.is_none() || cur.master == d.master {
                continue;
            }
            let master = d.master.as_ref().and_then(|m| self.desired.links.get(m));
            // A bond takes only members that are down, and brings them up itself.
            if cur.state == AdminState::Up && is_bond(master) {
                self.ops
                    .push(state_change(&d.name, AdminState::Up, AdminState::Down));
                self.work.set_state(&d.name, AdminState::Down);
            }
            let cur = &self.work.links[&d.name];
            self.ops.push(Op::SetMaster {
                link: d.name.clone(),
                from: cur.master.clone(),
                to: d.master.clone(),
            });
            if let Some(l) = self.work.links.get_mut(&d.name) {
                l.master.clone_from(&d.master);
            }
            if is_bond(master) {
                self.work.set_state(&d.name, AdminState::Up);
            } else if is_vrf(master) {
                self.work.cycle(&d.name);
            }
        }
    }

    /// Parents before children: a child cannot come up on a parent that is down.
    fn bring_up(&mut self) {
        self.set_states(AdminState::Up);
    }

    /// Links the config wants down that the kernel brought up along with their parent (a
    /// VLAN) or by enslaving them (a bond member) go down again, parents first.
    fn take_down(&mut self) {
        self.set_states(AdminState::Down);
    }

    /// Every link the config wants in `state` and that is not, parents first.
    fn set_states(&mut self, state: AdminState) {
        let from = match state {
            AdminState::Up => AdminState::Down,
            AdminState::Down => AdminState::Up,
        };
        for d in parents_first(&self.desired.links) {
            if d.state == state && self.work.state(&d.name) == Some(from) {
                self.ops.push(state_change(&d.name, from, state));
                self.work.set_state(&d.name, state);
            }
        }
    }

    /// The kernel's flushes, as explicit deletions at `at`, before any link goes down (by
    /// the names the links have then).
    fn splice_flushes(&mut self, at: usize) {
        let old_name: BTreeMap<&IfName, &IfName> =
            self.renames.iter().map(|(o, n)| (n, o)).collect();
        let flushes = self.work.flushed.iter().map(|(link, addr)| Op::DelAddress {
            link: (*old_name.get(link).unwrap_or(&link)).clone(),
            addr: *addr,
        });
        self.ops.splice(at..at, flushes.collect::<Vec<_>>());
    }

    fn add_addresses(&mut self) {
        for d in self.desired.links.values() {
            let have = &self.work.links[&d.name].addresses;
            for addr in d.addresses.iter().filter(|a| !have.contains(a)) {
                self.ops.push(Op::AddAddress {
                    link: d.name.clone(),
                    addr: *addr,
                });
            }
        }
    }

    /// Routes after the addresses that make their gateways reachable.
    fn add_routes(&mut self, routes: RouteWrites<'a>) {
        self.ops.reserve(routes.len());
        self.ops.extend(routes.into_iter().map(|(d, c)| match c {
            Some(c) => Op::ReplaceRoute {
                from: Box::new(c.clone()),
                to: Box::new(d.clone()),
            },
            None => Op::AddRoute(d.clone()),
        }));
    }

    fn add_rules(&mut self) {
        let current: HashSet<&Rule> = self.current.rules.iter().collect();
        let new = self.desired.rules.iter().filter(|r| !current.contains(r));
        self.ops.extend(new.cloned().map(Op::AddRule));
    }
}
