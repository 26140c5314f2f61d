//! `[bgp]` as written to [`Bgp`]: defaults filled in, policy names resolved, lists parsed,
//! and what BIRD would refuse (or silently get wrong) reported at its path.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::state::*;
use super::*;
use crate::error::{Problem, Seg};
use crate::validate::Checker;

fn at(base: &[Seg], more: &[Seg]) -> Vec<Seg> {
    [base, more].concat()
}

fn k(s: &str) -> Seg {
    Seg::Key(s.to_owned())
}

/// Text that goes into a BIRD string literal.
fn check_text(ck: &mut Checker, path: &[Seg], what: &str, s: &str) {
    if s.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        ck.report(
            path,
            format!("the {what} must not hold '\"', '\\' or control characters (BIRD string)"),
        );
    }
}

impl BgpConfig {
    /// Checks the section; `base` is its path in the config.
    pub fn validate(&self, base: &[Seg]) -> Result<Bgp, Vec<Problem>> {
        let mut ck = Checker {
            problems: Vec::new(),
        };
        if self.router_id.is_unspecified() || self.router_id.is_broadcast() {
            ck.report(
                &at(base, &[k("router_id")]),
                "the router id must be a unicast IPv4 address, usually the router's loopback",
            );
        }
        let policies = self.check_policies(&mut ck, base);
        let blackhole = self.blackhole.clone().unwrap_or_default();
        for (name, p) in &policies {
            if p.blackhole && blackhole.next_hop_v4.is_none() && blackhole.next_hop_v6.is_none() {
                ck.report(
                    &at(base, &[k("policy"), k(name.as_str()), k("blackhole")]),
                    "accepting blackholes needs somewhere to send them: set [bgp.blackhole] next_hop_v4 and/or next_hop_v6",
                );
            }
        }
        let (roas, rtr) = self.check_rpki(&mut ck, base);
        let rpki_used = policies.values().any(|p| !p.rpki.is_off());
        if rpki_used && roas.is_empty() && rtr.is_empty() {
            ck.report(
                &at(base, &[k("policy")]),
                "a policy validates RPKI origins, but [bgp.rpki] has neither roa entries nor rtr caches",
            );
        }
        let peers = self.check_peers(&mut ck, base, &policies);
        self.check_aliases(&mut ck, base);
        let announces = self.check_announces(&mut ck, base);
        // Whole statements after the generated part, reading no other file.
        if let Some(Err(e)) = self.raw.as_deref().map(super::confine::check_raw) {
            ck.report(&at(base, &[k("raw")]), e.to_string());
        }
        if !ck.problems.is_empty() {
            return Err(ck.problems);
        }
        Ok(Bgp {
            asn: self.asn,
            router_id: self.router_id,
            route_server: self.route_server,
            graceful_shutdown: self.graceful_shutdown,
            graceful_shutdown_on_stop: self.graceful_shutdown_on_stop.unwrap_or(true),
            install_routes: self.install_routes,
            blackhole_v4: blackhole.next_hop_v4,
            blackhole_v6: blackhole.next_hop_v6,
            roas,
            rtr,
            policies,
            peers,
            announces,
            raw: self
                .raw
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            files: self
                .list_files()
                .into_iter()
                .filter_map(|f| {
                    let text = self.files.0.get(&f)?.as_ref().ok()?.clone();
                    Some((f, text))
                })
                .collect(),
        })
    }

    fn check_policies(&self, ck: &mut Checker, base: &[Seg]) -> BTreeMap<BgpName, Policy> {
        let mut out = BTreeMap::new();
        for (name, c) in &self.policy {
            let path = at(base, &[k("policy"), k(name.as_str())]);
            let d = Policy::default();
            let mut length = |min: Option<u8>,
                              max: Option<u8>,
                              dflt: (u8, u8),
                              top: u8,
                              (pre, v): (&str, &str)| {
                let (lo, hi) = (min.unwrap_or(dflt.0), max.unwrap_or(dflt.1));
                if hi > top || lo > hi {
                    ck.report(
                        &at(&path, &[k(&format!("{pre}max_length_{v}"))]),
                        format!("prefix lengths must satisfy {pre}min_length_{v} <= {pre}max_length_{v} <= {top}; here {lo} and {hi}"),
                    );
                }
                // The default route is never a blackhole.
                if !pre.is_empty() && lo == 0 {
                    ck.report(
                        &at(&path, &[k(&format!("{pre}min_length_{v}"))]),
                        format!("{pre}min_length_{v} must be at least 1: nobody may blackhole the default route"),
                    );
                }
                (lo, hi)
            };
            let length_v4 = length(
                c.min_length_v4,
                c.max_length_v4,
                d.length_v4,
                32,
                ("", "v4"),
            );
            let length_v6 = length(
                c.min_length_v6,
                c.max_length_v6,
                d.length_v6,
                128,
                ("", "v6"),
            );
            let bh_v4 = length(
                c.blackhole_min_length_v4,
                c.blackhole_max_length_v4,
                d.blackhole_length_v4,
                32,
                ("blackhole_", "v4"),
            );
            let bh_v6 = length(
                c.blackhole_min_length_v6,
                c.blackhole_max_length_v6,
                d.blackhole_length_v6,
                128,
                ("blackhole_", "v6"),
            );
            let max_as_path = c.max_as_path.unwrap_or(d.max_as_path);
            if max_as_path == 0 {
                ck.report(
                    &at(&path, &[k("max_as_path")]),
                    "max_as_path must be at least 1",
                );
            }
            out.insert(
                name.clone(),
                Policy {
                    next_hop: c.next_hop.unwrap_or(d.next_hop),
                    first_as: c.first_as.unwrap_or(d.first_as),
                    bogon_prefixes: c.bogon_prefixes.unwrap_or(d.bogon_prefixes),
                    bogon_asns: c.bogon_asns.unwrap_or(d.bogon_asns),
                    transit_free_asns: sorted(
                        c.transit_free_asns
                            .clone()
                            .unwrap_or_else(|| d.transit_free_asns.clone()),
                    ),
                    never_via_rs_asns: sorted(c.never_via_rs_asns.clone()),
                    max_as_path,
                    length_v4,
                    length_v6,
                    rpki: c.rpki,
                    blackhole: c.blackhole,
                    blackhole_length_v4: bh_v4,
                    blackhole_length_v6: bh_v6,
                    blackhole_without_list: c.blackhole_without_list,
                    graceful_shutdown: c.graceful_shutdown.unwrap_or(d.graceful_shutdown),
                },
            );
        }
        out.entry(default_policy()).or_default();
        out
    }

    fn check_rpki(&self, ck: &mut Checker, base: &[Seg]) -> (Vec<Roa>, Vec<(IpAddr, u16)>) {
        let Some(r) = &self.rpki else {
            return (Vec::new(), Vec::new());
        };
        let mut roas = Vec::new();
        for (i, roa) in r.roa.iter().enumerate() {
            let path = at(base, &[k("rpki"), k("roa"), Seg::Index(i)]);
            if roa.prefix.trunc() != roa.prefix {
                ck.report(
                    &at(&path, &[k("prefix")]),
                    format!(
                        "{} has host bits set; the prefix is {}",
                        roa.prefix,
                        roa.prefix.trunc()
                    ),
                );
            }
            let len = roa.prefix.prefix_len();
            let max = roa.max_length.unwrap_or(len);
            if max < len || max > roa.prefix.max_prefix_len() {
                ck.report(
                    &at(&path, &[k("max_length")]),
                    format!("max_length must be {len}..={}", roa.prefix.max_prefix_len()),
                );
            }
            roas.push(Roa {
                prefix: roa.prefix,
                max_length: max,
                asn: roa.asn,
            });
        }
        roas.sort();
        roas.dedup();
        let rtr = r
            .rtr
            .iter()
            .map(|c| (c.address, c.port.unwrap_or(323)))
            .collect();
        (roas, rtr)
    }

    fn check_peers(
        &self,
        ck: &mut Checker,
        base: &[Seg],
        policies: &BTreeMap<BgpName, Policy>,
    ) -> Vec<Peer> {
        let mut names: HashMap<&BgpName, usize> = HashMap::new();
        let mut addrs: HashMap<IpAddr, usize> = HashMap::new();
        let mut out = Vec::with_capacity(self.peers.len());
        for (i, p) in self.peers.iter().enumerate() {
            let path = at(base, &[k("peer"), Seg::Index(i)]);
            let field = |f: &str| at(&path, &[k(f)]);
            if let Some(first) = names.insert(&p.name, i) {
                ck.report(
                    &field("name"),
                    format!("peer name {} is already used by bgp.peer[{first}]", p.name),
                );
            }
            if let Some(first) = addrs.insert(p.address, i) {
                ck.report(
                    &field("address"),
                    format!(
                        "address {} is already the peer bgp.peer[{first}]",
                        p.address
                    ),
                );
            }
            out.push(self.peer(ck, &path, p, policies));
        }
        out
    }

    /// One `[[bgp.peer]]`, checked on its own.
    fn peer(
        &self,
        ck: &mut Checker,
        path: &[Seg],
        p: &PeerConfig,
        policies: &BTreeMap<BgpName, Policy>,
    ) -> Peer {
        let field = |f: &str| at(path, &[k(f)]);
        let a = p.address;
        if a.is_unspecified() || a.is_loopback() || a.is_multicast() {
            ck.report(
                &field("address"),
                format!("{a} cannot be a BGP neighbour; write the peer's unicast address"),
            );
        }
        if let IpAddr::V6(v6) = a {
            if v6.segments()[0] & 0xffc0 == 0xfe80 {
                ck.report(
                    &field("address"),
                    format!("{a} is link-local; peer on a global or unique-local address"),
                );
            }
        }
        let rs_client = self.check_session(ck, path, p);
        let families = peer_families(ck, path, p);
        let policy = p.policy.clone().unwrap_or_else(default_policy);
        if !policies.contains_key(&policy) {
            let known: Vec<&str> = policies.keys().map(BgpName::as_str).collect();
            ck.report(
                &field("policy"),
                format!(
                    "unknown policy {policy}; declare [bgp.policy.{policy}] or use one of: {}",
                    known.join(", ")
                ),
            );
        }
        let allowed_prefixes = self.list(
            ck,
            (&field("allowed_prefixes"), p.allowed_prefixes.as_ref()),
            (
                &field("allowed_prefixes_file"),
                p.allowed_prefixes_file.as_ref(),
            ),
            super::lists::prefixes,
        );
        let allowed_origins = self.list(
            ck,
            (&field("allowed_origins"), p.allowed_origins.as_ref()),
            (
                &field("allowed_origins_file"),
                p.allowed_origins_file.as_ref(),
            ),
            super::lists::origins,
        );
        Peer {
            name: p.name.clone(),
            address: a,
            asn: p.asn,
            description: p.description.clone(),
            password: p.password.clone(),
            multihop: p.multihop,
            ttl_security: p.ttl_security,
            passive: p.passive,
            hold_time: p.hold_time,
            add_path: p.add_path,
            families,
            families_written: p.families.is_some(),
            policy,
            rs_client,
            community_alias: p.community_alias,
            max_prefix_v4: p.max_prefix_v4,
            max_prefix_v6: p.max_prefix_v6,
            max_prefix_action: p.max_prefix_action,
            allowed_prefixes,
            allowed_prefixes_file: p.allowed_prefixes_file.clone(),
            allowed_origins,
            allowed_origins_file: p.allowed_origins_file.clone(),
        }
    }

    /// The session's settings that exclude each other; whether the peer is an RS client.
    fn check_session(&self, ck: &mut Checker, path: &[Seg], p: &PeerConfig) -> bool {
        let field = |f: &str| at(path, &[k(f)]);
        let rs_client = p.rs_client.unwrap_or(self.route_server);
        if rs_client && p.asn == self.asn {
            ck.report(
                &field("asn"),
                format!(
                    "a route-server client must be another AS; {} is the route server's own",
                    p.asn
                ),
            );
        }
        if p.multihop.is_some() && p.ttl_security {
            ck.report(
                &field("ttl_security"),
                "ttl_security needs a directly connected peer; it excludes multihop",
            );
        }
        if p.multihop == Some(0) {
            ck.report(&field("multihop"), "multihop counts hops: 1 to 255");
        }
        if matches!(p.hold_time, Some(1 | 2)) {
            ck.report(
                &field("hold_time"),
                "a hold time is 0 (no keepalives) or at least 3 seconds (RFC 4271)",
            );
        }
        for (f, v) in [("description", &p.description), ("password", &p.password)] {
            if let Some(s) = v {
                check_text(ck, &field(f), f, s);
            }
        }
        rs_client
    }

    /// A peer's list, written in the config or in a file beside it (not both): sorted,
    /// without duplicates. None: not checked.
    fn list<T: Ord + std::str::FromStr<Err = String>>(
        &self,
        ck: &mut Checker,
        (at_inline, inline): (&[Seg], Option<&Words>),
        (at_file, file): (&[Seg], Option<&ListFile>),
        parse_file: fn(&ListFile, &str) -> Result<Vec<T>, String>,
    ) -> Option<Vec<T>> {
        let mut l: Vec<T> = match (inline, file) {
            (None, None) => return None,
            (Some(_), Some(_)) => {
                ck.report(
                    at_file,
                    "give the list in the config or in a file, not both",
                );
                return None;
            }
            (Some(words), None) => words
                .0
                .iter()
                .filter_map(|s| s.parse().map_err(|m| ck.report(at_inline, m)).ok())
                .collect(),
            (None, Some(f)) => match self.files.0.get(f) {
                Some(Ok(text)) => parse_file(f, text)
                    .map_err(|m| ck.report(at_file, m))
                    .ok()?,
                Some(Err(why)) => {
                    ck.report(at_file, why.clone());
                    return None;
                }
                None => {
                    ck.report(
                        at_file,
                        format!("{f} was not read: the config came without the files beside it"),
                    );
                    return None;
                }
            },
        };
        l.sort();
        l.dedup();
        Some(l)
    }

    /// A community alias stands for one 32-bit member: 16 bits, and no other member's
    /// ASN or alias.
    fn check_aliases(&self, ck: &mut Checker, base: &[Seg]) {
        let mut taken: HashMap<u32, Asn> = self
            .peers
            .iter()
            .filter(|p| p.asn.is_16bit())
            .map(|p| (p.asn.get(), p.asn))
            .collect();
        // A member's sessions name it alike.
        let mut first: HashMap<Asn, (usize, Option<Asn>)> = HashMap::new();
        for (i, p) in self.peers.iter().enumerate() {
            let (j, alias) = *first.entry(p.asn).or_insert((i, p.community_alias));
            if alias != p.community_alias {
                ck.report(
                    &at(base, &[k("peer"), Seg::Index(i), k("community_alias")]),
                    format!(
                        "AS{}'s session bgp.peer[{j}] has another community_alias; give all its sessions the same",
                        p.asn
                    ),
                );
            }
        }
        for (i, p) in self.peers.iter().enumerate() {
            let Some(alias) = p.community_alias else {
                continue;
            };
            let path = at(base, &[k("peer"), Seg::Index(i), k("community_alias")]);
            if p.asn.is_16bit() {
                ck.report(
                    &path,
                    format!(
                        "AS{} fits standard communities itself; remove community_alias",
                        p.asn
                    ),
                );
            } else if !alias.is_16bit() || alias.get() == 65535 {
                ck.report(
                    &path,
                    format!("an alias must fit 16 bits (1..=65534); {alias} does not"),
                );
            } else if let Some(owner) = taken.insert(alias.get(), p.asn) {
                if owner != p.asn {
                    ck.report(
                        &path,
                        format!("{alias} already names AS{owner} in standard communities"),
                    );
                }
            }
        }
    }

    fn check_announces(&self, ck: &mut Checker, base: &[Seg]) -> Vec<Announce> {
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for (i, a) in self.announces.iter().enumerate() {
            let path = at(base, &[k("announce"), Seg::Index(i), k("prefix")]);
            if a.prefix.trunc() != a.prefix {
                ck.report(
                    &path,
                    format!(
                        "{} has host bits set; the prefix is {}",
                        a.prefix,
                        a.prefix.trunc()
                    ),
                );
            }
            if let Some(first) = seen.insert(a.prefix, i) {
                ck.report(
                    &path,
                    format!("{} is already announced by bgp.announce[{first}]", a.prefix),
                );
            }
            out.push(Announce {
                prefix: a.prefix,
                communities: a.communities.clone(),
                large_communities: a.large_communities.clone(),
            });
        }
        out
    }
}

fn sorted(mut l: Vec<Asn>) -> Vec<Asn> {
    l.sort();
    l.dedup();
    l
}

fn default_policy() -> BgpName {
    DEFAULT_POLICY
        .parse()
        .expect("the default policy's name is a valid name")
}

/// The families the session carries (the address's own by default), and their limits.
fn peer_families(ck: &mut Checker, path: &[Seg], p: &PeerConfig) -> Vec<crate::Family> {
    let field = |f: &str| at(path, &[k(f)]);
    let a = p.address;
    let mut families = p
        .families
        .clone()
        .unwrap_or_else(|| vec![crate::Family::of_addr(&a)]);
    families.sort();
    families.dedup();
    if families.is_empty() {
        ck.report(
            &field("families"),
            "a session needs at least one family: ipv4, ipv6",
        );
    }
    for (f, n) in [
        (crate::Family::Ipv4, "max_prefix_v4"),
        (crate::Family::Ipv6, "max_prefix_v6"),
    ] {
        let limit = match f {
            crate::Family::Ipv4 => p.max_prefix_v4,
            crate::Family::Ipv6 => p.max_prefix_v6,
        };
        if limit.is_some() && !families.contains(&f) {
            ck.report(
                &field(n),
                format!("the session does not carry {f:?}; add it to families or remove {n}"),
            );
        }
    }
    families
}
