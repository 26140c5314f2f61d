//! The Linux kernel behind the [`Kernel`] trait: strict netlink dumps in; writes go through
//! [`super::execute`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use super::netlink::{Netlink, NetlinkError};
use super::{address_codec, link_codec, nexthop_codec, route_codec, rule_codec, wireguard};
use crate::model::{AdminState, Family, IfName, Link, LinkKind, NetState, Route, TYPED_SYSCTLS};
use crate::plan::Op;
use crate::reconcile::{Kernel, KernelError};

use link_codec::RawLink;

#[derive(Debug)]
pub struct LinuxKernel {
    pub(super) nl: Netlink,
    /// Whether this process owns the UTS namespace it runs in (no `--netns`).
    pub(super) manage_hostname: bool,
    /// Nexthop objects as of the last read, and the agent's own that no route used then:
    /// the next write removes those it does not reuse.
    pub(super) nexthops: Vec<nexthop_codec::Object>,
    pub(super) orphans: Vec<u32>,
    /// WireGuard devices' keys and peers (generic netlink), opened beside `nl` so that it
    /// lives in the same network namespace.
    pub(super) wg: wireguard::Genl,
}

pub(super) fn nl_err(context: &str) -> impl Fn(NetlinkError) -> KernelError + '_ {
    move |e| KernelError::new(context, e)
}

impl LinuxKernel {
    pub fn open(manage_hostname: bool) -> Result<LinuxKernel, KernelError> {
        let nl =
            Netlink::open().map_err(|e| KernelError::new("opening the rtnetlink socket", e))?;
        let wg = wireguard::Genl::open()
            .map_err(|e| KernelError::new("opening the generic netlink socket", e))?;
        Ok(LinuxKernel {
            nl,
            wg,
            manage_hostname,
            nexthops: Vec::new(),
            orphans: Vec::new(),
        })
    }

    fn dump_links(&mut self) -> Result<Vec<RawLink>, KernelError> {
        let mut links = self.dump_raw_links()?;
        for l in &mut links {
            l.random_mac = mac_is_random(&l.name, l.index);
        }
        Ok(links)
    }

    fn dump_raw_links(&mut self) -> Result<Vec<RawLink>, KernelError> {
        self.nl
            .dump("links", &link_codec::dump_request(), |p| {
                Some(link_codec::decode(p))
            })
            .map_err(nl_err("reading links"))?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| KernelError::new("reading links", NetlinkError::Malformed(e)))
    }

    /// Each WireGuard link's keys and peers. Strict like every read: a device that cannot
    /// be read is an error, not a link without peers.
    fn read_wireguard(&mut self, raw: &mut [RawLink]) -> Result<(), KernelError> {
        for l in raw {
            if let link_codec::RawKind::Wireguard(wg) = &mut l.kind {
                let dev = self.wg.read(l.index).map_err(|e| {
                    KernelError::new(format!("reading WireGuard device {}", l.name), e)
                })?;
                *wg = Some(Box::new(dev));
            }
        }
        Ok(())
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
    pub(super) fn link_table(&mut self) -> Result<HashMap<IfName, RawLink>, KernelError> {
        Ok(self
            .dump_raw_links()?
            .into_iter()
            .filter_map(|l| Some((l.name.parse().ok()?, l)))
            .collect())
    }

    /// The sysctls named that exist in this kernel, normalised.
    fn sysctl_values<'k>(keys: impl Iterator<Item = &'k str>) -> BTreeMap<String, String> {
        keys.filter_map(|k| {
            let v = std::fs::read_to_string(crate::model::sysctl_path(k)).ok()?;
            Some((k.to_owned(), crate::model::normalize_sysctl(&v)))
        })
        .collect()
    }
}

/// NET_ADDR_RANDOM: the kernel made the MAC up when it created the link.
const NET_ADDR_RANDOM: u8 = 1;

/// Whether sysfs says the link's MAC is random. Netlink does not carry the assign type;
/// sysfs shows the namespace it was mounted in, so only a link whose index matches counts
/// (elsewhere the MAC is kept, as before).
fn mac_is_random(name: &str, index: u32) -> bool {
    let dir = std::path::Path::new("/sys/class/net").join(name);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    let same_link = read("ifindex").and_then(|i| i.trim().parse::<u32>().ok()) == Some(index);
    same_link
        && read("addr_assign_type").and_then(|t| t.trim().parse::<u8>().ok())
            == Some(NET_ADDR_RANDOM)
}

/// Link names by index, looked up once per dumped route.
type Names = HashMap<u32, IfName, crate::model::FastHash>;

/// Turns dumped links into model links: names for indices, kinds the model covers only.
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
            // A MAC the kernel chose at random is not config: the next boot picks another.
            _ => r.mac.filter(|_| !r.random_mac),
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
    let foreign: Vec<IfName> = links
        .values()
        .filter(|l| l.master.as_ref().is_some_and(|m| !links.contains_key(m)))
        .map(|l| l.name.clone())
        .collect();
    for name in foreign {
        if let Some(l) = links.get_mut(&name) {
            l.master = None;
        }
    }
    (links, modeled)
}

impl Kernel for LinuxKernel {
    fn read_streaming(
        &mut self,
        sysctls: &[String],
        each: &mut dyn FnMut(Route),
    ) -> Result<Option<NetState>, KernelError> {
        let t = Instant::now();
        let mut raw = self.dump_links()?;
        self.read_wireguard(&mut raw)?;
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
        let mut used = HashSet::new();
        let name_of = |i: u32| names.get(&i).cloned();
        let mut count = 0usize;
        let mut unknown = 0usize;
        for fam in route_codec::DUMP_FAMILIES {
            let complete = self
                .nl
                .dump_streaming("routes", &route_codec::dump_request(fam), |p| {
                    used.extend(route_codec::nexthop_id(p));
                    match route_codec::decode(p, &name_of, &hops) {
                        route_codec::Decoded::Config(r) => {
                            count += 1;
                            each(r);
                        }
                        route_codec::Decoded::UnknownLink(_) => unknown += 1,
                        route_codec::Decoded::NotConfig => {}
                    }
                })
                .map_err(nl_err("reading routes"))?;
            if !complete {
                return Ok(None);
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
        tracing::debug!(links = links.len(), routes = count, rules = rules.len(), elapsed = ?t.elapsed(), "read kernel state");
        Ok(Some(NetState {
            hostname,
            sysctl: Self::sysctl_values(
                TYPED_SYSCTLS
                    .into_iter()
                    .chain(sysctls.iter().map(String::as_str)),
            ),
            links,
            routes: crate::model::RouteMap::default(),
            rules,
            table_names: BTreeMap::new(),
        }))
    }

    fn read_sysctls(&mut self, keys: &[String]) -> Result<crate::model::Sysctls, KernelError> {
        Ok(Self::sysctl_values(keys.iter().map(String::as_str)))
    }

    fn execute(&mut self, ops: &[Op]) -> Result<Vec<Result<(), String>>, KernelError> {
        super::execute::Executor::new(self)?.run(ops)
    }
}
