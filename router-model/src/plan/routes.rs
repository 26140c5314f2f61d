//! Comparing routes: there can be millions, so two sorted maps are merged side by side
//! rather than looked up route by route.

use crate::{IfName, Route, RouteMap};

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
pub(super) fn route_pairs<'a>(
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

/// Every link a route goes through: its own device and its nexthops'.
pub(super) fn route_devs(r: &Route) -> impl Iterator<Item = &IfName> {
    r.dev
        .iter()
        .chain(r.nexthops.iter().filter_map(|n| n.dev.as_ref()))
}
