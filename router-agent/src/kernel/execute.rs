//! Operations to requests: batched by kind, links resolved to indices as they change, and
//! large route sets put on shared nexthop objects.

use std::collections::{HashMap, HashSet};

use super::link_codec::{self, RawLink};
use super::linux::{nl_err, LinuxKernel};
use super::netlink::{self, Request};
use super::{address_codec, nexthop_codec, route_codec, rule_codec, wireguard};
use crate::model::{
    wg_change, AdminState, FastHash, IfName, LinkKind, Route, RouteType, WireguardOpts,
};
use crate::plan::Op;
use crate::reconcile::KernelError;

/// Turns operations into requests, batching runs of operations of one kind.
pub(super) struct Executor<'a> {
    kernel: &'a mut LinuxKernel,
    links: HashMap<IfName, RawLink>,
    /// Links were created, deleted or renamed since `links` was read.
    stale: bool,
    /// Requests not yet sent, and the operation of each.
    pending: netlink::Batch,
    pending_ops: Vec<usize>,
    pending_class: Option<u8>,
    results: Vec<Result<(), String>>,
    /// Gateways with enough routes in this run to share a nexthop object, and the objects
    /// they got.
    shared: HashSet<HopKey>,
    nexthop_ids: HashMap<HopKey, u32>,
    /// The hop of the last route queued and its nexthop object: routes come sorted, and
    /// runs of them share a hop.
    last_hop: Option<(HopKey, Option<u32>)>,
}

/// A route's single hop: gateway, device, onlink.
type HopKey = (std::net::IpAddr, IfName, bool);
type HopRef<'r> = (std::net::IpAddr, &'r IfName, bool);

fn hop_of(r: &Route) -> Option<HopRef<'_>> {
    match (r.kind, r.nexthops.is_empty(), r.via, &r.dev) {
        (RouteType::Unicast, true, Some(via), Some(dev)) => Some((via, dev, r.onlink)),
        _ => None,
    }
}

impl<'a> Executor<'a> {
    pub(super) fn new(kernel: &'a mut LinuxKernel) -> Result<Executor<'a>, KernelError> {
        let links = kernel.link_table()?;
        Ok(Executor {
            kernel,
            links,
            stale: false,
            pending: netlink::Batch::default(),
            pending_ops: Vec::new(),
            pending_class: None,
            results: Vec::new(),
            shared: HashSet::new(),
            nexthop_ids: HashMap::new(),
            last_hop: None,
        })
    }

    pub(super) fn run(mut self, ops: &[Op]) -> Result<Vec<Result<(), String>>, KernelError> {
        self.results = vec![Ok(()); ops.len()];
        // Counted a run of equal hops at a time: a million routes through one gateway are
        // one hash lookup, not a million.
        let mut per_hop: HashMap<HopRef, usize, FastHash> = HashMap::default();
        let mut run: Option<(HopRef, usize)> = None;
        let hops = ops.iter().filter_map(|op| match op {
            Op::AddRoute(r) => hop_of(r),
            Op::ReplaceRoute { to, .. } => hop_of(to),
            _ => None,
        });
        for hop in hops.map(Some).chain([None]) {
            match (&mut run, hop) {
                (Some((k, n)), Some(h)) if *k == h => *n += 1,
                (_, next) => {
                    if let Some((k, n)) = run.take() {
                        *per_hop.entry(k).or_default() += n;
                    }
                    run = next.map(|h| (h, 1));
                }
            }
        }
        self.shared = per_hop
            .into_iter()
            .filter(|(_, n)| *n >= super::NEXTHOP_OBJECT_MIN)
            .map(|((via, dev, onlink), _)| (via, dev.clone(), onlink))
            .collect();
        for (i, op) in ops.iter().enumerate() {
            let class = batch_class(op);
            let must_flush = self.pending_class != Some(class) || (self.stale && needs_indices(op));
            if must_flush && !self.flush()? {
                self.results.truncate(i);
                return Ok(self.results);
            }
            self.pending_class = Some(class);
            if self.stale && needs_indices(op) {
                self.links = self.kernel.link_table()?;
                self.stale = false;
            }
            if !self.flush_if_full()? {
                self.results.truncate(i);
                return Ok(self.results);
            }
            tracing::debug!(%op, "executing");
            if let Err(e) = self.requests(i, op) {
                self.results[i] = Err(e);
                self.flush()?;
                self.results.truncate(i + 1);
                return Ok(self.results);
            }
            if let Some((name, from, to)) = wireguard_part(op) {
                // The device is configured once its link exists: what is queued goes first.
                if !self.flush()? {
                    self.results.truncate(i + 1);
                    return Ok(self.results);
                }
                if let Err(e) = self.configure_wireguard(name, from, to) {
                    self.results[i] = Err(e);
                    self.results.truncate(i + 1);
                    return Ok(self.results);
                }
            }
        }
        if self.flush()? {
            self.remove_orphan_nexthops()?;
        }
        Ok(self.results)
    }

    /// Deletes the agent's nexthop objects that no route used at the last read and this
    /// run did not reuse. Housekeeping, not an operation: a failure is only logged.
    fn remove_orphan_nexthops(&mut self) -> Result<(), KernelError> {
        let reused: HashSet<u32> = self.nexthop_ids.values().copied().collect();
        let orphans: Vec<Request> = std::mem::take(&mut self.kernel.orphans)
            .into_iter()
            .filter(|id| !reused.contains(id))
            .map(nexthop_codec::del_nexthop)
            .collect();
        if orphans.is_empty() {
            return Ok(());
        }
        tracing::debug!(count = orphans.len(), "removing unused nexthop objects");
        for r in self
            .kernel
            .nl
            .batch(&orphans)
            .map_err(nl_err("removing unused nexthop objects"))?
        {
            if let Err(e) = r {
                tracing::warn!(error = %e, "could not remove an unused nexthop object");
            }
        }
        Ok(())
    }

    /// Queues a route, on a shared nexthop object when its gateway carries many routes.
    fn push_route(&mut self, i: usize, r: &Route, replace: bool) -> Result<(), String> {
        let nexthop = match (hop_of(r), &self.last_hop) {
            (Some((via, dev, onlink)), Some(((v, d, o), id)))
                if via == *v && dev == d && onlink == *o =>
            {
                *id
            }
            (Some((via, dev, onlink)), _) => {
                let key = (via, dev.clone(), onlink);
                let id = if self.shared.contains(&key) {
                    Some(self.nexthop_object(i, key.clone())?)
                } else {
                    None
                };
                self.last_hop = Some((key, id));
                id
            }
            (None, _) => None,
        };
        let links = &self.links;
        let ifindex = |n: &IfName| links.get(n).map(|l| l.index);
        self.pending
            .push_with(route_codec::RTM_NEWROUTE, |b| {
                route_codec::encode_route(b, r, replace, &ifindex, nexthop)
            })
            .map_err(|e| e.to_string())?;
        self.pending_ops.push(i);
        Ok(())
    }

    /// The agent's nexthop object for a hop: one it made before, or a new one, created in
    /// the same batch just before the first route that uses it.
    fn nexthop_object(&mut self, i: usize, key: HopKey) -> Result<u32, String> {
        if let Some(id) = self.nexthop_ids.get(&key) {
            return Ok(*id);
        }
        let hop = nexthop_codec::Hop {
            via: key.0,
            oif: self.index(&key.1)?,
            onlink: key.2,
        };
        let existing = self
            .kernel
            .nexthops
            .iter()
            .find(|o| o.protocol == super::PROTOCOL && o.hop == hop);
        let id = match existing {
            Some(o) => o.id,
            None => {
                let taken = self
                    .kernel
                    .nexthops
                    .iter()
                    .map(|o| o.id)
                    .chain(self.nexthop_ids.values().copied());
                let id = taken.max().unwrap_or(0) + 1;
                self.push(i, nexthop_codec::new_nexthop(id, &hop));
                id
            }
        };
        self.nexthop_ids.insert(key, id);
        Ok(id)
    }

    /// One WG_CMD_SET_DEVICE with the difference: peers not changed are not touched.
    fn configure_wireguard(
        &mut self,
        name: &IfName,
        from: Option<&WireguardOpts>,
        to: &WireguardOpts,
    ) -> Result<(), String> {
        let none = WireguardOpts::default();
        let change = wg_change(from.unwrap_or(&none), to);
        if change.is_empty() {
            return Ok(());
        }
        tracing::debug!(link = %name, change = %change, "configuring WireGuard device");
        let family = self.kernel.wg.family().map_err(|e| e.to_string())?;
        let req = wireguard::set_request(family, name.as_str(), &change);
        self.kernel.wg.send(&req).map_err(|e| e.to_string())?
    }

    /// Sends what is pending; false if any of it failed.
    fn flush(&mut self) -> Result<bool, KernelError> {
        if self.pending.is_empty() {
            return Ok(self.results.iter().all(Result::is_ok));
        }
        let out = self
            .kernel
            .nl
            .send_batch(&mut self.pending)
            .map_err(nl_err("writing to the kernel"))?;
        let mut ok = true;
        for (i, r) in self.pending_ops.drain(..).zip(out) {
            if let Err(e) = r {
                ok = false;
                if self.results[i].is_ok() {
                    self.results[i] = Err(e.to_string());
                }
            }
        }
        Ok(ok)
    }

    fn index(&self, name: &IfName) -> Result<u32, String> {
        self.links
            .get(name)
            .map(|l| l.index)
            .ok_or_else(|| format!("interface {name} does not exist"))
    }

    fn push(&mut self, i: usize, r: Request) {
        self.pending.push(&r);
        self.pending_ops.push(i);
    }

    /// Sends a full batch early, so that a million routes never sit encoded in memory at
    /// once; false if it failed (the run stops there).
    fn flush_if_full(&mut self) -> Result<bool, KernelError> {
        if self.pending.len() >= netlink::BATCH {
            return self.flush();
        }
        Ok(true)
    }

    /// Queues the requests of one operation, or runs it now if it is not netlink.
    fn requests(&mut self, i: usize, op: &Op) -> Result<(), String> {
        match op {
            Op::SetHostname { to, .. } => {
                if !self.kernel.manage_hostname {
                    return Err("the hostname is not set inside a --netns namespace".into());
                }
                set_hostname(to)?;
            }
            Op::SetSysctl { key, to, .. } => {
                let path = crate::model::sysctl_path(key);
                std::fs::write(&path, to).map_err(|e| format!("writing {path}: {e}"))?;
            }
            Op::AddRule(r) => self.push(i, rule_codec::new_rule(r)),
            Op::DelRule(r) => self.push(i, rule_codec::del_rule(r)),
            Op::AddRoute(r) => self.push_route(i, r, false)?,
            Op::ReplaceRoute { to, .. } => self.push_route(i, to, true)?,
            Op::DelRoute(r) => self.push(i, route_codec::del_route(&r.key)),
            Op::AddAddress { link, addr } => {
                let req = address_codec::new_address(addr, self.index(link)?);
                self.push(i, req);
            }
            Op::DelAddress { link, addr } => {
                let req = address_codec::del_address(addr, self.index(link)?);
                self.push(i, req);
            }
            // The plan takes a link down before it joins a bond or is renamed.
            Op::SetMaster { link, to, .. } => {
                let index = self.index(link)?;
                let master = match to {
                    Some(m) => self.index(m)?,
                    None => 0,
                };
                let set = link_codec::Set {
                    master: Some(master),
                    ..Default::default()
                };
                self.push(i, link_codec::set(index, &set));
            }
            Op::CreateLink { link, peer } => {
                let parent = link.parent().map(|p| self.index(p)).transpose()?;
                self.push(i, link_codec::create(link, peer.as_deref(), parent));
                for l in std::iter::once(link).chain(peer) {
                    alias_fits(l.description.as_deref())?;
                    let is_peer = l.name != link.name;
                    let set = link_codec::Set {
                        state: (is_peer && l.state == AdminState::Up).then_some(AdminState::Up),
                        alias: l.description.as_deref(),
                        ..Default::default()
                    };
                    if set.state.is_some() || set.alias.is_some() {
                        self.push(i, link_codec::set_by_name(l.name.as_str(), &set));
                    }
                }
                self.stale = true;
            }
            Op::DeleteLink { link, .. } => {
                let req = link_codec::delete(self.index(&link.name)?);
                self.push(i, req);
                self.stale = true;
            }
            Op::RenameLink { from, to } => {
                let set = link_codec::Set {
                    name: Some(to.as_str()),
                    ..Default::default()
                };
                let req = link_codec::set(self.index(from)?, &set);
                self.push(i, req);
                self.stale = true;
            }
            Op::SetLink { link, change } => {
                let index = self.index(link)?;
                let set = link_codec::Set {
                    state: change.state.map(|(_, s)| s),
                    mtu: change.mtu.map(|(_, m)| m),
                    mac: change.mac.map(|(_, m)| m),
                    alias: change
                        .description
                        .as_ref()
                        .map(|(_, d)| d.as_deref().unwrap_or("")),
                    // A WireGuard device changes over generic netlink (`run`), not here.
                    kind: change
                        .kind
                        .as_ref()
                        .map(|(_, k)| k)
                        .filter(|k| !matches!(k, LinkKind::Wireguard(_))),
                    ..Default::default()
                };
                alias_fits(set.alias)?;
                if !set.is_empty() {
                    self.push(i, link_codec::set(index, &set));
                }
            }
        }
        Ok(())
    }
}

/// The WireGuard device an operation configures: (link, from, to); `None` for a new link.
/// An alias the kernel keeps (IFALIASZ less its NUL). `check` refuses longer ones; this is
/// the encoder's own guard: netlink-packet-route panics on one over 65,535 bytes.
fn alias_fits(alias: Option<&str>) -> Result<(), String> {
    match alias {
        Some(a) if a.len() > 255 || a.contains('\0') => Err(format!(
            "a description of {} bytes (at most 255, no NUL) cannot be set",
            a.len()
        )),
        _ => Ok(()),
    }
}

fn wireguard_part(op: &Op) -> Option<(&IfName, Option<&WireguardOpts>, &WireguardOpts)> {
    match op {
        Op::CreateLink { link, .. } => match &link.kind {
            LinkKind::Wireguard(to) => Some((&link.name, None, to)),
            _ => None,
        },
        Op::SetLink { link, change } => match &change.kind {
            Some((LinkKind::Wireguard(from), LinkKind::Wireguard(to))) => {
                Some((link, Some(from), to))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Operations of one class go out in one batch; a failed batch stops the run.
fn batch_class(op: &Op) -> u8 {
    match op {
        Op::AddRoute(_) | Op::ReplaceRoute { .. } | Op::DelRoute(_) => 0,
        Op::AddAddress { .. } | Op::DelAddress { .. } => 1,
        Op::AddRule(_) | Op::DelRule(_) => 2,
        Op::SetHostname { .. } | Op::SetSysctl { .. } => 3,
        _ => 4,
    }
}

/// Operations that name links by index.
fn needs_indices(op: &Op) -> bool {
    !matches!(
        op,
        Op::SetHostname { .. }
            | Op::SetSysctl { .. }
            | Op::AddRule(_)
            | Op::DelRule(_)
            | Op::DelRoute(_)
    )
}

fn set_hostname(name: &str) -> Result<(), String> {
    rustix::system::sethostname(name.as_bytes())
        .map_err(|e| format!("sethostname: {}", std::io::Error::from(e)))
}
