//! What becomes of each link the kernel has now: renamed (a NIC the config finds by MAC),
//! kept, recreated, deleted, or left alone.

use std::collections::BTreeMap;

use crate::{IfName, LinkKind, NetState};

use super::kinds::{same_identity, veth_peer};
use super::PlanError;

/// What happens to a link that exists now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    /// Stays, possibly changed in place.
    Keep,
    /// Deleted, and created again because its kind changed or its parent goes.
    Recreate,
    Delete,
    /// Not in the config and not the agent's to delete (loopback, NICs).
    Unmanaged,
}

impl Fate {
    /// Whether the link is deleted (to be created again or not).
    pub fn deletes(self) -> bool {
        matches!(self, Fate::Recreate | Fate::Delete)
    }
}

/// Physical links the config names differently from the kernel, found by MAC: old -> new.
pub(super) fn find_renames(
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

/// The fate of every current link, by its current name; `renames` maps a current name to
/// the one the config gives it.
pub(super) fn link_fates(
    desired: &NetState,
    current: &NetState,
    renames: &BTreeMap<IfName, IfName>,
) -> Result<BTreeMap<IfName, Fate>, PlanError> {
    let mut fates = BTreeMap::new();
    for c in current.links.values() {
        let target = renames.get(&c.name).unwrap_or(&c.name);
        let fate = match desired.links.get(target) {
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
            if dep.is_some_and(|p| fates.get(p).is_some_and(|f| f.deletes())) {
                fates.insert(c.name.clone(), Fate::Recreate);
                changed = true;
            }
        }
        if !changed {
            return Ok(fates);
        }
    }
}
