//! Virtual links the config names differently from the kernel: one link of a kind with
//! its options that goes and one exactly like it that comes. Renamed rather than deleted
//! and created again, so the link keeps its index (and what the kernel learnt on it), and
//! a failed apply's revert renames it back instead of creating a new link.

use std::collections::{BTreeMap, HashSet};

use crate::{IfName, Link, NetState};

/// old -> new for virtual links, besides those in `renames` (found by MAC) already.
pub(super) fn virtual_renames(
    desired: &NetState,
    current: &NetState,
    renames: &BTreeMap<IfName, IfName>,
) -> BTreeMap<IfName, IfName> {
    let targets: HashSet<&IfName> = renames.values().collect();
    let going: Vec<&Link> = current
        .links
        .values()
        .filter(|c| {
            c.is_virtual() && !desired.links.contains_key(&c.name) && !renames.contains_key(&c.name)
        })
        .collect();
    let coming: Vec<&Link> = desired
        .links
        .values()
        .filter(|d| {
            d.is_virtual() && !current.links.contains_key(&d.name) && !targets.contains(&d.name)
        })
        .collect();
    let mut out = BTreeMap::new();
    for d in &coming {
        let mut like = going.iter().filter(|c| c.kind == d.kind);
        // Only a pair without a second candidate either way: otherwise which is which is a guess.
        if let (Some(c), None) = (like.next(), like.next()) {
            if coming.iter().filter(|n| n.kind == c.kind).count() == 1 {
                out.insert(c.name.clone(), d.name.clone());
            }
        }
    }
    out
}
