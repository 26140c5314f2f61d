//! Routes: each entry resolved once (table, family, next hops), its prefixes expanded,
//! duplicates reported where they are, gateways on a connected prefix.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::{at, key, resolve_table, Checker};
use crate::error::Seg;
use crate::route::{Family, NextHopConfig, RouteConfig, RouteType};
use crate::state::{default_metric, FastHash, Link, NextHop, Route, RouteKey, RouteMap};
use crate::types::{IfName, TableRef};
use crate::Config;

impl Config {
    pub(super) fn check_routes(
        &self,
        ck: &mut Checker,
        tables: &BTreeMap<String, u32>,
        links: &BTreeMap<IfName, Link>,
    ) -> RouteMap {
        let before = ck.problems.len();
        let mut routes = self.expand_routes(ck, tables, links, None);
        // Sorted, a key given twice sits next to itself. Stable: config order within a key.
        let strictly_sorted = routes.is_sorted_by(|a, b| a.key < b.key);
        if !strictly_sorted {
            routes.sort_by_key(|r| r.key);
        }
        let routes = if !strictly_sorted && routes.windows(2).any(|w| w[0].key == w[1].key) {
            // Expanded again, checking each key as it comes, to report every duplicate
            // where it is and with the entry that defined it first.
            ck.problems.truncate(before);
            let mut seen = HashSet::default();
            self.expand_routes(ck, tables, links, Some(&mut seen))
        } else {
            routes
        };
        let routes: RouteMap = routes.into_iter().collect();
        check_gateways(ck, &self.routes, &routes, links);
        routes
    }

    /// Every route the entries define, in config order. With `seen`, a key defined before
    /// is reported and the route left out; without, duplicates are the caller's to find.
    fn expand_routes(
        &self,
        ck: &mut Checker,
        tables: &BTreeMap<String, u32>,
        links: &BTreeMap<IfName, Link>,
        mut seen: Option<&mut HashSet<RouteKey, FastHash>>,
    ) -> Vec<Route> {
        let total: usize = self
            .routes
            .iter()
            .map(|r| r.prefixes.as_ref().map_or(1, |p| p.0.len()))
            .sum();
        let mut routes = Vec::with_capacity(total);
        // The table each route entry resolved to, to name the first of two conflicting
        // entries without keeping an index per route.
        let mut tables_of: Vec<Option<u32>> = Vec::with_capacity(self.routes.len());
        for (i, cfg) in self.routes.iter().enumerate() {
            tables_of.push(None);
            let path = vec![key("route"), Seg::Index(i)];
            let Some(template) = check_route(ck, &path, cfg, tables, links) else {
                continue;
            };
            tables_of[i] = Some(template.table);
            // The path of each destination is built only for an error: lists run to millions.
            let (field, dsts): (&str, &[IpNet]) = match (&cfg.to, &cfg.prefixes) {
                (Some(to), None) => ("to", std::slice::from_ref(to)),
                (None, Some(list)) if !list.0.is_empty() => ("prefixes", &list.0),
                (None, Some(_)) => {
                    ck.report(&at(&path, &["prefixes"]), "the prefix list is empty");
                    continue;
                }
                (Some(_), Some(_)) => {
                    ck.report(
                        &path,
                        "give either `to` (one route) or `prefixes` (many), not both",
                    );
                    continue;
                }
                (None, None) => {
                    ck.report(
                        &path,
                        "a route needs `to = \"PREFIX\"` or `prefixes = [...]`",
                    );
                    continue;
                }
            };
            let family = template.family_hint;
            let dpath = || at(&path, &[field]);
            for &dst in dsts {
                if dst.trunc() != dst {
                    ck.report(
                        &dpath(),
                        format!("{dst} has host bits set; did you mean {}?", dst.trunc()),
                    );
                    continue;
                }
                if family.is_some_and(|f| f != Family::of(&dst)) {
                    ck.report(
                        &dpath(),
                        format!("{dst} is not of the same family as the route's gateway or source"),
                    );
                    continue;
                }
                let metric = cfg
                    .metric
                    .map_or_else(|| default_metric(Family::of(&dst)), |m| m.get());
                let rkey = RouteKey {
                    table: template.table,
                    dst,
                    metric,
                };
                if seen.as_mut().is_some_and(|s| !s.insert(rkey)) {
                    let first = first_with_key(&self.routes, &tables_of, rkey).unwrap_or(i);
                    ck.report(
                        &dpath(),
                        format!(
                            "route to {dst} (table {}, metric {metric}) is already defined by route[{first}]; routes with the same destination, table and metric conflict",
                            rkey.table
                        ),
                    );
                    continue;
                }
                routes.push(Route {
                    key: rkey,
                    kind: cfg.kind,
                    via: cfg.via,
                    dev: cfg.dev.clone(),
                    onlink: cfg.onlink,
                    src: cfg.src,
                    nexthops: template.nexthops.clone(),
                });
            }
        }
        routes
    }
}

/// What a route's attributes resolve to, shared by every prefix of a `prefixes` list.
struct RouteTemplate {
    table: u32,
    family_hint: Option<Family>,
    nexthops: Vec<NextHop>,
}

fn check_route(
    ck: &mut Checker,
    path: &[Seg],
    cfg: &RouteConfig,
    tables: &BTreeMap<String, u32>,
    links: &BTreeMap<IfName, Link>,
) -> Option<RouteTemplate> {
    let table = match &cfg.table {
        Some(t) => resolve_table(ck, &at(path, &["table"]), t, tables)?,
        None => TableRef::MAIN,
    };
    let mut ok = true;
    let mut fail = |ck: &mut Checker, p: Vec<Seg>, m: String| {
        ck.report(&p, m);
        ok = false;
    };
    let mut family_hint = None;
    let mut fam = |ck: &mut Checker, p: Vec<Seg>, a: &IpAddr, ok: &mut bool| match family_hint {
        Some(f) if f != Family::of_addr(a) => {
            ck.report(&p, format!("{a} mixes IPv4 and IPv6 in one route"));
            *ok = false;
        }
        _ => family_hint = Some(Family::of_addr(a)),
    };
    let mut ok2 = true;
    if let Some(v) = &cfg.via {
        fam(ck, at(path, &["via"]), v, &mut ok2);
    }
    if let Some(s) = &cfg.src {
        fam(ck, at(path, &["src"]), s, &mut ok2);
    }
    if let Some(d) = &cfg.dev {
        if !links.contains_key(d) {
            fail(
                ck,
                at(path, &["dev"]),
                format!("unknown interface {d}; declare it as an [[interface]]"),
            );
        }
    }
    let is_unicast = cfg.kind == RouteType::Unicast;
    if !is_unicast && (cfg.via.is_some() || cfg.dev.is_some() || !cfg.nexthops.is_empty()) {
        fail(
            ck,
            path.to_vec(),
            format!("a {:?} route takes no via, dev or nexthops", cfg.kind).to_lowercase(),
        );
    }
    if is_unicast && cfg.via.is_none() && cfg.dev.is_none() && cfg.nexthops.is_empty() {
        fail(
            ck,
            path.to_vec(),
            "a unicast route needs `via`, `dev` or `nexthops`".into(),
        );
    }
    if !cfg.nexthops.is_empty() && (cfg.via.is_some() || cfg.dev.is_some() || cfg.onlink) {
        fail(
            ck,
            path.to_vec(),
            "`nexthops` replaces `via`, `dev` and `onlink`; put them in each next hop".into(),
        );
    }
    if cfg.onlink && cfg.dev.is_none() {
        fail(ck, at(path, &["onlink"]), "`onlink` needs `dev`".into());
    }
    if let Some(IpAddr::V6(v)) = cfg.via {
        if v.is_unicast_link_local() && cfg.dev.is_none() {
            fail(
                ck,
                at(path, &["via"]),
                format!("link-local gateway {v} needs `dev`"),
            );
        }
    }
    if let Err(m) = check_multipath_size(&cfg.nexthops) {
        fail(ck, at(path, &["nexthops"]), m);
    }
    let mut nexthops = Vec::new();
    for (j, nh) in cfg.nexthops.iter().enumerate() {
        let mut np = at(path, &["nexthops"]);
        np.push(Seg::Index(j));
        if nh.via.is_none() && nh.dev.is_none() {
            fail(ck, np.clone(), "a next hop needs `via` or `dev`".into());
        }
        if let Some(v) = &nh.via {
            fam(ck, at(&np, &["via"]), v, &mut ok2);
        }
        if let Some(d) = &nh.dev {
            if !links.contains_key(d) {
                fail(
                    ck,
                    at(&np, &["dev"]),
                    format!("unknown interface {d}; declare it as an [[interface]]"),
                );
            }
        }
        if nh.onlink && nh.dev.is_none() {
            fail(ck, at(&np, &["onlink"]), "`onlink` needs `dev`".into());
        }
        nexthops.push(NextHop {
            via: nh.via,
            dev: nh.dev.clone(),
            weight: nh.weight.map_or(1, |w| w.get()),
            onlink: nh.onlink,
        });
    }
    (ok && ok2).then_some(RouteTemplate {
        table,
        family_hint,
        nexthops,
    })
}

/// Bytes of next hops (RTA_MULTIPATH) a route may carry. The kernel takes up to 64 KiB (the
/// attribute's u16 length), but it dumps each route in one message of at most 32 KiB less
/// its buffer's overhead (measured on 6.x: 32,448 bytes for the whole message), and leaves
/// a route that does not fit out of every dump: the agent could not read it back. 1 KiB
/// below that for the message's other attributes.
const MULTIPATH_MAX_BYTES: usize = 31_744;

/// One next hop in RTA_MULTIPATH: an rtnexthop (8 bytes) and its RTA_GATEWAY.
fn hop_bytes(nh: &NextHopConfig) -> usize {
    8 + match nh.via {
        None => 0,
        Some(IpAddr::V4(_)) => 8,
        Some(IpAddr::V6(_)) => 20,
    }
}

/// The next hops fit in a route message the kernel can dump.
fn check_multipath_size(hops: &[NextHopConfig]) -> Result<(), String> {
    let bytes: usize = hops.iter().map(hop_bytes).sum();
    if bytes <= MULTIPATH_MAX_BYTES {
        return Ok(());
    }
    Err(format!(
        "{} next hops do not fit in one route message of the kernel ({bytes} bytes, at most {MULTIPATH_MAX_BYTES}: {} IPv4 or {} IPv6 gateways); spread the prefixes over several routes",
        hops.len(),
        MULTIPATH_MAX_BYTES / 16,
        MULTIPATH_MAX_BYTES / 28
    ))
}

/// The first route entry that defines a route with `key`.
fn first_with_key(cfgs: &[RouteConfig], tables_of: &[Option<u32>], key: RouteKey) -> Option<usize> {
    cfgs.iter().zip(tables_of).position(|(c, t)| {
        let metric = c
            .metric
            .map_or_else(|| default_metric(Family::of(&key.dst)), |m| m.get());
        let has =
            c.to == Some(key.dst) || c.prefixes.as_ref().is_some_and(|p| p.0.contains(&key.dst));
        *t == Some(key.table) && metric == key.metric && has
    })
}

/// A gateway must be on a connected prefix of the route's interface (or of any interface),
/// unless the route says `onlink`. Checked per route entry: a `prefixes` list shares one.
fn check_gateways(
    ck: &mut Checker,
    cfgs: &[RouteConfig],
    routes: &RouteMap,
    links: &BTreeMap<IfName, Link>,
) {
    let dev_routes: Vec<&Route> = routes
        .values()
        .filter(|r| r.via.is_none() && r.dev.is_some())
        .collect();
    let connected = |via: &IpAddr, dev: Option<&IfName>| -> bool {
        if let IpAddr::V6(v) = via {
            if v.is_unicast_link_local() {
                return true;
            }
        }
        let on_link = |l: &Link| l.addresses.iter().any(|a| a.trunc().contains(via));
        let dev_route = |l: &IfName| {
            dev_routes
                .iter()
                .any(|r| r.dev.as_ref() == Some(l) && r.key.dst.contains(via))
        };
        match dev {
            Some(d) => links.get(d).is_some_and(on_link) || dev_route(d),
            None => links.values().any(on_link) || links.keys().any(dev_route),
        }
    };
    for (i, c) in cfgs.iter().enumerate() {
        let single = (Vec::new(), c.via.as_ref(), c.dev.as_ref(), c.onlink);
        let hops = c.nexthops.iter().enumerate().map(|(j, n)| {
            (
                vec![key("nexthops"), Seg::Index(j)],
                n.via.as_ref(),
                n.dev.as_ref(),
                n.onlink,
            )
        });
        for (at_hop, via, dev, onlink) in std::iter::once(single).chain(hops) {
            let Some(via) = via else { continue };
            if onlink || connected(via, dev) {
                continue;
            }
            let on = dev.map_or("any interface".to_owned(), |d| d.to_string());
            let mut path = vec![key("route"), Seg::Index(i)];
            path.extend(at_hop);
            path.push(key("via"));
            ck.report(
                &path,
                format!("gateway {via} is not on a connected prefix of {on}; add an address in its subnet, or set onlink = true with dev"),
            );
        }
    }
}
