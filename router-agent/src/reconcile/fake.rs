//! An in-memory kernel: applies operations to a [`NetState`], with failures on demand.

use crate::model::{AdminState, IfName, Link, LinkKind, NetState, Route};
use crate::plan::{LinkChange, Op};

use super::{Kernel, KernelError};

#[derive(Debug, Default)]
pub struct FakeKernel {
    pub state: NetState,
    /// Operations executed so far (the fake's `ip monitor`).
    pub writes: usize,
    /// Fail the operation with this number (counted from 0 over the fake's life).
    pub fail_at: Option<usize>,
    /// Panic at the operation with this number, once (a bug, for the tests of what
    /// follows one).
    pub panic_at: Option<usize>,
    /// Silently ignore MTU changes, as a kernel that clamps them would.
    pub ignore_mtu: bool,
    /// Changes the state behind the agent's back once, after the next write.
    pub meddle: Option<fn(&mut NetState)>,
    /// Reads (counted from 0 over the fake's life) a concurrent change interrupts.
    pub interrupted_reads: std::ops::Range<usize>,
    reads: usize,
}

impl FakeKernel {
    pub fn new(state: NetState) -> FakeKernel {
        FakeKernel {
            state,
            ..FakeKernel::default()
        }
    }

    fn run(&mut self, op: &Op) -> Result<(), String> {
        let s = &mut self.state;
        match op.clone() {
            Op::SetHostname { to, .. } => s.hostname = Some(to),
            Op::SetSysctl { key, to, .. } => {
                s.sysctl.insert(key, to);
            }
            Op::AddRule(r) => {
                if s.rules.contains(&r) {
                    return Err("rule exists".into());
                }
                s.rules.push(r);
                s.rules.sort();
            }
            Op::DelRule(r) => {
                let before = s.rules.len();
                s.rules.retain(|x| *x != r);
                if before == s.rules.len() {
                    return Err("no such rule".into());
                }
            }
            Op::AddRoute(r) => {
                if s.routes.contains_key(&r.key) {
                    return Err("route exists".into());
                }
                s.routes.insert(r);
            }
            Op::ReplaceRoute { to, .. } => {
                s.routes.insert(*to);
            }
            Op::DelRoute(r) => {
                s.routes.remove(&r.key).ok_or("no such route")?;
            }
            Op::AddAddress { link, addr } => {
                let l = s.links.get_mut(&link).ok_or_else(|| missing(&link))?;
                if l.addresses.contains(&addr) {
                    return Err("address exists".into());
                }
                l.addresses.push(addr);
                l.addresses.sort();
            }
            Op::DelAddress { link, addr } => {
                let l = s.links.get_mut(&link).ok_or_else(|| missing(&link))?;
                l.addresses.retain(|a| *a != addr);
            }
            Op::SetMaster { link, to, .. } => set_master(s, &link, to)?,
            Op::CreateLink { link, peer } => create_links(s, std::iter::once(link).chain(peer))?,
            Op::DeleteLink { link, peer } => delete_links(s, std::iter::once(link).chain(peer))?,
            Op::RenameLink { from, to } => {
                let mut l = s.links.remove(&from).ok_or_else(|| missing(&from))?;
                l.name = to.clone();
                s.links.insert(to, l);
            }
            Op::SetLink { link, change } => set_link(s, &link, *change, self.ignore_mtu)?,
        }
        Ok(())
    }
}

fn missing(n: &dyn std::fmt::Display) -> String {
    format!("no such link {n}")
}

fn set_master(s: &mut NetState, link: &IfName, to: Option<IfName>) -> Result<(), String> {
    if let Some(m) = &to {
        s.links.get(m).ok_or_else(|| missing(m))?;
    }
    let l = s.links.get_mut(link).ok_or_else(|| missing(link))?;
    let from = std::mem::replace(&mut l.master, to.clone());
    // A bond opens the links it takes and closes those it lets go; a VRF
    // cycles them (going down flushes IPv6 addresses).
    let kind = |m: &Option<IfName>| m.as_ref().and_then(|m| s.links.get(m)).map(|m| &m.kind);
    match (kind(&from), kind(&to)) {
        (_, Some(LinkKind::Bond { .. })) => set_state(s, link, AdminState::Up),
        (Some(LinkKind::Bond { .. }), _) => set_state(s, link, AdminState::Down),
        (Some(LinkKind::Vrf { .. }), _) | (_, Some(LinkKind::Vrf { .. }))
            if s.links[link].state == AdminState::Up =>
        {
            set_state(s, link, AdminState::Down);
            set_state(s, link, AdminState::Up);
        }
        _ => {}
    }
    Ok(())
}

/// Creates links, refusing a VLAN up on a parent that is down as the kernel does.
fn create_links(s: &mut NetState, links: impl Iterator<Item = Box<Link>>) -> Result<(), String> {
    for l in links {
        if s.links.contains_key(&l.name) {
            return Err(format!("link {} exists", l.name));
        }
        if let Some(p) = l.parent() {
            let p = s.links.get(p).ok_or_else(|| missing(p))?;
            if vlan_blocked(&l, l.state, p) {
                return Err(NETWORK_DOWN.into());
            }
        }
        s.links.insert(l.name.clone(), *l);
    }
    Ok(())
}

/// Deletes links, with the routes through them and their members' memberships.
fn delete_links(s: &mut NetState, links: impl Iterator<Item = Box<Link>>) -> Result<(), String> {
    for l in links {
        s.links.remove(&l.name).ok_or_else(|| missing(&l.name))?;
        let uses = |r: &Route| {
            r.dev.as_ref() == Some(&l.name)
                || r.nexthops.iter().any(|n| n.dev.as_ref() == Some(&l.name))
        };
        s.routes.retain(|r| !uses(r));
        for other in s.links.values_mut() {
            if other.master.as_ref() == Some(&l.name) {
                other.master = None;
            }
        }
    }
    Ok(())
}

/// An in-place change; the state first, with what the kernel does along.
fn set_link(
    s: &mut NetState,
    link: &IfName,
    change: LinkChange,
    ignore_mtu: bool,
) -> Result<(), String> {
    let l = s.links.get(link).ok_or_else(|| missing(link))?;
    if let Some((_, v)) = change.state {
        let parent = l.parent().and_then(|p| s.links.get(p));
        if parent.is_some_and(|p| vlan_blocked(l, v, p)) {
            return Err(NETWORK_DOWN.into());
        }
        set_state(s, link, v);
    }
    let l = s.links.get_mut(link).ok_or_else(|| missing(link))?;
    if let Some((_, v)) = change.mtu {
        if !ignore_mtu {
            l.mtu = Some(v);
        }
    }
    if let Some((_, v)) = change.mac {
        l.mac = Some(v);
    }
    if let Some((_, v)) = change.description {
        l.description = v;
    }
    if let Some((_, v)) = change.kind {
        l.kind = v;
    }
    Ok(())
}

const NETWORK_DOWN: &str = "Network is down";

/// Whether the kernel refuses `l` up: a VLAN cannot be up on a parent that is down.
fn vlan_blocked(l: &Link, state: AdminState, parent: &Link) -> bool {
    matches!(l.kind, LinkKind::Vlan { .. })
        && state == AdminState::Up
        && parent.state == AdminState::Down
}

/// A state change as the kernel makes it: a link going down loses its IPv6 addresses, and
/// the VLANs on a link go down and up with it (all of them, whatever their state before).
/// A macvlan keeps its own state.
fn set_state(s: &mut NetState, name: &IfName, state: AdminState) {
    let Some(l) = s.links.get_mut(name) else {
        return;
    };
    if l.state == state {
        return;
    }
    l.state = state;
    if state == AdminState::Down {
        l.addresses.retain(|a| a.addr().is_ipv4());
    }
    let vlans: Vec<IfName> = s
        .links
        .values()
        .filter(|c| matches!(&c.kind, LinkKind::Vlan { parent, .. } if parent == name))
        .map(|c| c.name.clone())
        .collect();
    for v in vlans {
        set_state(s, &v, state);
    }
}

impl Kernel for FakeKernel {
    fn read_streaming(
        &mut self,
        _sysctls: &[String],
        each: &mut dyn FnMut(Route),
    ) -> Result<Option<NetState>, KernelError> {
        self.reads += 1;
        if self.interrupted_reads.contains(&(self.reads - 1)) {
            return Ok(None);
        }
        let mut state = self.state.clone();
        std::mem::take(&mut state.routes)
            .into_values()
            .for_each(each);
        Ok(Some(state))
    }

    fn read_sysctls(&mut self, keys: &[String]) -> Result<crate::model::Sysctls, KernelError> {
        Ok(keys
            .iter()
            .filter_map(|k| Some((k.clone(), self.state.sysctl.get(k)?.clone())))
            .collect())
    }

    fn execute(&mut self, ops: &[Op]) -> Result<Vec<Result<(), String>>, KernelError> {
        let mut results = Vec::new();
        for op in ops {
            let n = self.writes;
            self.writes += 1;
            if self.panic_at == Some(n) {
                self.panic_at = None;
                panic!("injected panic at operation {n}");
            }
            let r = if self.fail_at == Some(n) {
                Err("injected failure".to_owned())
            } else {
                self.run(op)
            };
            let failed = r.is_err();
            results.push(r);
            if failed {
                break;
            }
        }
        if let Some(meddle) = self.meddle.take() {
            meddle(&mut self.state);
        }
        Ok(results)
    }
}
