//! The planner's working copy of the links, with what the kernel does by itself when a
//! link's administrative state changes, so that each phase plans from what will be there.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::{AdminState, IfName, Link, LinkKind};

/// The links as the operations planned so far leave them.
pub(super) struct Working {
    pub links: BTreeMap<IfName, Link>,
    /// IPv6 addresses the kernel flushes when their link goes down, by the link's name at
    /// that moment: planned as explicit deletions beforehand, so that the address phase adds
    /// them back and the revert knows them.
    pub flushed: Vec<(IfName, IpNet)>,
}

impl Working {
    pub fn new(links: BTreeMap<IfName, Link>) -> Working {
        Working {
            links,
            flushed: Vec::new(),
        }
    }

    pub fn state(&self, name: &IfName) -> Option<AdminState> {
        self.links.get(name).map(|l| l.state)
    }

    /// Sets `name` to `state` (by an operation or by the kernel), then what the kernel does
    /// along, when the state really changes:
    /// - a VLAN follows its parent: `vlan_device_event` closes a parent's VLANs when it goes
    ///   down and opens every one of them when it comes up, whatever their state before (the
    ///   agent never sets `loose_binding`, which would stop both);
    /// - a macvlan keeps its own state (`macvlan_device_event` passes on only the carrier);
    /// - a link going down loses its IPv6 addresses (`keep_addr_on_down` is off by default).
    pub fn set_state(&mut self, name: &IfName, state: AdminState) {
        let mut todo = vec![name.clone()];
        while let Some(n) = todo.pop() {
            let Some(l) = self.links.get_mut(&n) else {
                continue;
            };
            if l.state == state {
                continue;
            }
            l.state = state;
            if state == AdminState::Down {
                let (v6, v4): (Vec<IpNet>, Vec<IpNet>) =
                    l.addresses.iter().partition(|a| a.addr().is_ipv6());
                l.addresses = v4;
                self.flushed.extend(v6.into_iter().map(|a| (n.clone(), a)));
            }
            todo.extend(
                self.links
                    .values()
                    .filter(|c| matches!(&c.kind, LinkKind::Vlan { parent, .. } if *parent == n))
                    .map(|c| c.name.clone()),
            );
        }
    }

    /// The kernel takes a link that joins or leaves a VRF down and up again, when it is up.
    pub fn cycle(&mut self, name: &IfName) {
        if self.state(name) == Some(AdminState::Up) {
            self.set_state(name, AdminState::Down);
            self.set_state(name, AdminState::Up);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{VlanId, VlanProtocol};

    fn name(s: &str) -> IfName {
        s.parse().unwrap()
    }

    fn vlan(n: &str, parent: &str, state: AdminState) -> Link {
        let mut l = Link::new(
            name(n),
            LinkKind::Vlan {
                parent: name(parent),
                id: VlanId::new(10).unwrap(),
                protocol: VlanProtocol::default(),
            },
        );
        l.state = state;
        l
    }

    #[test]
    fn vlans_follow_their_parent_down_and_up_and_lose_ipv6_going_down() {
        let mut eth0 = Link::new(name("eth0"), LinkKind::Physical { match_mac: None });
        eth0.state = AdminState::Down;
        let mut up = vlan("v-up", "eth0", AdminState::Down);
        up.addresses = vec![
            "2001:db8::1/64".parse().unwrap(),
            "10.0.0.1/24".parse().unwrap(),
        ];
        let stacked = vlan("v-v", "v-up", AdminState::Down);
        let mut w = Working::new(
            [eth0, up, stacked]
                .into_iter()
                .map(|l| (l.name.clone(), l))
                .collect(),
        );
        w.set_state(&name("eth0"), AdminState::Up);
        assert_eq!(w.state(&name("v-up")), Some(AdminState::Up));
        assert_eq!(w.state(&name("v-v")), Some(AdminState::Up));
        assert!(w.flushed.is_empty());
        w.set_state(&name("eth0"), AdminState::Down);
        assert_eq!(w.state(&name("v-v")), Some(AdminState::Down));
        assert_eq!(
            w.links[&name("v-up")].addresses,
            ["10.0.0.1/24".parse().unwrap()]
        );
        assert_eq!(
            w.flushed,
            [(name("v-up"), "2001:db8::1/64".parse().unwrap())]
        );
    }
}
