//! The Linux kernel behind the [`Kernel`] trait: strict netlink dumps in, batched requests out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use super::netlink::{self, Netlink, NetlinkError, Request};
use super::{address_codec, link_codec, nexthop_codec, route_codec, rule_codec};
use crate::model::{
    AdminState, Family, IfName, Link, LinkKind, NetState, Route, RouteType, TYPED_SYSCTLS,
};
use crate::plan::Op;
use crate::reconcile::{Kernel, KernelError};

use link_codec::RawLink;

#[derive(Debug)]
pub struct LinuxKernel {
    nl: Netlink,
    /// Whether this process owns the UTS namespace it runs in (no `--netns`).
    manage_hostname: bool,
    /// Nexthop objects as of the last read, and the agent's own that no route used then:
    /// the next write removes those it does not reuse.
    nexthops: Vec<nexthop_codec::Object>,
    orphans: Vec<u32>,
}

fn nl_err(context: &str) -> impl Fn(NetlinkError) -> KernelError + '_ {
    move |e| KernelError::new(context, e)
}

impl LinuxKernel {
    pub fn open(manage_hostname: bool) -> Result<LinuxKernel, KernelError> {
        let nl =
            Netlink::open().map_err(|e| KernelError::new("opening the rtnetlink socket", e))?;
        Ok(LinuxKernel {
            nl,
            manage_hostname,
            nexthops: Vec::new(),
            orphans: Vec::new(),
        })
    }

    fn dump_links(&mut self) -> Result<Vec<RawLink>, KernelError> {
        self.nl
            .dump("links", &link_codec::dump_request(), |p| {
                Some(link_codec::decode(p))
            })
            .map_err(nl_err("reading links"))?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| KernelError::new("reading links", NetlinkError::Malformed(e)))
    }

    /// Nexthop objects; none where the kernel predates them (5.3) or lacks IPv6.
    fn dump_nexthops(&mut self) -> Result<Vec<nexthop_codec::Object>, KernelError> {
        match self.nl.dump(
            "nexthops",
            &nexthop_codec::dump_request(),
            nexthop_codec::decode,
        ) {
            Ok(v) => Ok(v),
            Err(NetlinkError::Dump { error, .. })
                if [libc::EOPNOTSUPP, libc::EINVAL, libc::EAFNOSUPPORT].contains(&error.errno) =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(KernelError::new("reading nexthop objects", e)),
        }
    }

    /// Links by name, for resolving names to indices while writing.
    fn link_table(&mut self) -> Result<HashMap<IfName, RawLink>, KernelError> {
        Ok(self
            .dump_links()?
            .into_iter()
            .filter_map(|l| Some((l.name.parse().ok()?, l)))
            .collect())
    }

    /// The sysctls named that exist in this kernel, normalised.
    fn sysctl_values<'k>(keys: impl Iterator<Item = &'k str>) -> BTreeMap<String, String> {
        keys.filter_map(|k| {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            let v = std::fs::read_to_string(path).ok()?;
            Some((k.to_owned(), crate::model::normalize_sysctl(&v)))
        })
        .collect()
    }
}

/// Turns dumped links into model links: names for indices, kinds the model covers only.
/// Link names by index, looked up once per dumped route.
type Names = HashMap<u32, IfName, crate::model::FastHash>;

fn model_links(raw: &[RawLink]) -> (BTreeMap<IfName, Link>, Names) {
    let names: HashMap<u32, IfName> = raw
        .iter()
        .filter_map(|l| Some((l.index, l.name.parse().ok()?)))
        .collect();
    let by_index: HashMap<u32, &RawLink> = raw.iter().map(|l| (l.index, l)).collect();
    let mut links = BTreeMap::new();
    let mut modeled = Names::default();
    for r in raw {
        let Some(name) = names.get(&r.index).cloned() else {
            continue;
        };
        let related = if r.link_elsewhere {
            None
        } else {
            r.link.and_then(|i| names.get(&i).cloned())
        };
        let kind = if r.loopback {
            Some(LinkKind::Loopback)
        } else {
            match link_codec::model_kind(&r.kind, related) {
                // A veth whose peer, or a VLAN whose parent, is in another namespace is this
                // namespace's NIC.
                None if r.link_elsewhere && !matches!(r.kind, link_codec::RawKind::Other(_)) => {
                    Some(LinkKind::Physical { match_mac: None })
                }
                k => k,
            }
        };
        let Some(kind) = kind else {
            tracing::debug!(link = %name, kind = ?r.kind, "not a kind the config covers; left alone");
            continue;
        };
        let mac = match &kind {
            LinkKind::Loopback => None,
            LinkKind::Physical { .. } => r.mac.filter(|m| r.perm_mac.is_some_and(|p| p != *m)),
            LinkKind::Vlan { .. } => {
                let parent_mac = r.link.and_then(|i| by_index.get(&i)).and_then(|p| p.mac);
                r.mac.filter(|m| Some(*m) != parent_mac)
            }
            _ => r.mac,
        };
        let kind = match kind {
            LinkKind::Physical { .. } => LinkKind::Physical {
                match_mac: r.perm_mac,
            },
            k => k,
        };
        let mut link = Link::new(name.clone(), kind);
        link.state = if r.up {
            AdminState::Up
        } else {
            AdminState::Down
        };
        link.mtu = r.mtu;
        link.mac = mac;
        link.description = r.alias.clone();
        link.master = r.master.and_then(|i| names.get(&i).cloned());
        modeled.insert(r.index, name.clone());
        links.insert(name, link);
    }
    // A master the model does not cover is not a master the config can name.
    let known: Vec<IfName> = links.keys().cloned().collect();
    for l in links.values_mut() {
        if l.master.as_ref().is_some_and(|m| !known.contains(m)) {
            l.master = None;
        }
    }
    (links, modeled)
}

impl Kernel for LinuxKernel {
    fn read(&mut self, sysctls: &[String]) -> Result<NetState, KernelError> {
        let t = Instant::now();
        let raw = self.dump_links()?;
        let (mut links, names) = model_links(&raw);

        let addrs = self
            .nl
            .dump(
                "addresses",
                &address_codec::dump_request(),
                address_codec::decode,
            )
            .map_err(nl_err("reading addresses"))?;
        for (index, addr) in addrs {
            if let Some(l) = names.get(&index).and_then(|n| links.get_mut(n)) {
                l.addresses.push(addr);
            }
        }
        for l in links.values_mut() {
            l.addresses.sort();
        }

        let objects = self.dump_nexthops()?;
        let hops: nexthop_codec::Table = objects.iter().map(|o| (o.id, o.hop)).collect();
        let mut used = std::collections::HashSet::new();
        let name_of = |i: u32| names.get(&i).cloned();
        let mut routes = crate::model::RouteMap::default();
        let mut unknown = 0usize;
        for fam in route_codec::DUMP_FAMILIES {
            let part = self
                .nl
                .dump("routes", &route_codec::dump_request(fam), |p| {
                    used.extend(route_codec::nexthop_id(p));
                    match route_codec::decode(p, &name_of, &hops) {
                        route_codec::Decoded::NotConfig => None,
                        d => Some(d),
                    }
                })
                .map_err(nl_err("reading routes"))?;
            routes.reserve(part.len());
            for d in part {
                match d {
                    route_codec::Decoded::Config(r) => {
                        routes.insert(r.key, r);
                    }
                    _ => unknown += 1,
                }
            }
        }
        self.orphans = objects
            .iter()
            .filter(|o| o.protocol == super::PROTOCOL && !used.contains(&o.id))
            .map(|o| o.id)
            .collect();
        self.nexthops = objects;
        if unknown > 0 {
            tracing::warn!(
                count = unknown,
                "routes on interfaces the config does not cover are left alone"
            );
        }

        let mut rules = Vec::new();
        for fam in [Family::Ipv4, Family::Ipv6] {
            let part = self
                .nl
                .dump("rules", &rule_codec::dump_request(fam), rule_codec::decode)
                .map_err(nl_err("reading rules"))?;
            rules.extend(part);
        }
        rules.sort();

        let hostname = if self.manage_hostname {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        } else {
            None
        };
        tracing::debug!(links = links.len(), routes = routes.len(), rules = rules.len(), elapsed = ?t.elapsed(), "read kernel state");
        Ok(NetState {
            hostname,
            sysctl: Self::sysctl_values(
                TYPED_SYSCTLS
                    .into_iter()
                    .chain(sysctls.iter().map(String::as_str)),
            ),
            links,
            routes,
            rules,
            table_names: BTreeMap::new(),
        })
    }

    fn read_sysctls(&mut self, keys: &[String]) -> Result<crate::model::Sysctls, KernelError> {
        Ok(Self::sysctl_values(keys.iter().map(String::as_str)))
    }

    fn execute(&mut self, ops: &[Op]) -> Result<Vec<Result<(), String>>, KernelError> {
        Executor::new(self)?.run(ops)
    }
}

/// Turns operations into requests, batching runs of operations of one kind.
struct Executor<'a> {
    kernel: &'a mut LinuxKernel,
    links: HashMap<IfName, RawLink>,
    /// Links were created, deleted or renamed since `links` was read.
    stale: bool,
    /// (operation index, request) not yet sent.
    pending: Vec<(usize, Request)>,
    pending_class: Option<u8>,
    results: Vec<Result<(), String>>,
    /// Gateways with enough routes in this run to share a nexthop object, and the objects
    /// they got.
    shared: HashSet<HopKey>,
    nexthop_ids: HashMap<HopKey, u32>,
}

/// A route's single hop: gateway, device, onlink.
type HopKey = (std::net::IpAddr, IfName, bool);

fn hop_key(r: &Route) -> Option<HopKey> {
    match (r.kind, r.nexthops.is_empty(), r.via, &r.dev) {
        (RouteType::Unicast, true, Some(via), Some(dev)) => Some((via, dev.clone(), r.onlink)),
        _ => None,
    }
}

impl<'a> Executor<'a> {
    fn new(kernel: &'a mut LinuxKernel) -> Result<Executor<'a>, KernelError> {
        let links = kernel.link_table()?;
        Ok(Executor {
            kernel,
            links,
            stale: false,
            pending: Vec::new(),
            pending_class: None,
            results: Vec::new(),
            shared: HashSet::new(),
            nexthop_ids: HashMap::new(),
        })
    }

    fn run(mut self, ops: &[Op]) -> Result<Vec<Result<(), String>>, KernelError> {
        self.results = vec![Ok(()); ops.len()];
        let mut per_hop: HashMap<HopKey, usize> = HashMap::new();
        for op in ops {
            if let Some(k) = match op {
                Op::AddRoute(r) => hop_key(r),
                Op::ReplaceRoute { to, .. } => hop_key(to),
                _ => None,
            } {
                *per_hop.entry(k).or_default() += 1;
            }
        }
        self.shared = per_hop
            .into_iter()
            .filter(|(_, n)| *n >= super::NEXTHOP_OBJECT_MIN)
            .map(|(k, _)| k)
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
        let ifindex = |n: &IfName| self.links.get(n).map(|l| l.index);
        let mut req = route_codec::new_route(r, replace, &ifindex).map_err(|e| e.to_string())?;
        if let Some(key) = hop_key(r).filter(|k| self.shared.contains(k)) {
            let id = self.nexthop_object(i, key)?;
            req = route_codec::with_nexthop_object(&req, id);
        }
        self.push(i, req);
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

    /// Sends what is pending; false if any of it failed.
    fn flush(&mut self) -> Result<bool, KernelError> {
        if self.pending.is_empty() {
            return Ok(self.results.iter().all(Result::is_ok));
        }
        let (idx, reqs): (Vec<usize>, Vec<Request>) =
            std::mem::take(&mut self.pending).into_iter().unzip();
        let out = self
            .kernel
            .nl
            .batch(&reqs)
            .map_err(nl_err("writing to the kernel"))?;
        let mut ok = true;
        for (i, r) in idx.into_iter().zip(out) {
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
        self.pending.push((i, r));
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
                let path = format!("/proc/sys/{}", key.replace('.', "/"));
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
                    kind: change.kind.as_ref().map(|(_, k)| k),
                    ..Default::default()
                };
                self.push(i, link_codec::set(index, &set));
            }
        }
        Ok(())
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
    // SAFETY: the pointer and length describe `name`'s bytes, which outlive the call.
    let rc = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    if rc != 0 {
        return Err(format!("sethostname: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}
