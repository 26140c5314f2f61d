//! Plans between generated configs (the generators of tests/support): each converges on the
//! fake kernel, writes nothing when applied again, and a failure at any step reverts exactly.

use proptest::prelude::*;

use super::fake::FakeKernel;
use super::*;
use crate::model::{load, AdminState, Link, LinkKind, NetState};

#[allow(dead_code)]
#[path = "../../tests/support/configs.rs"]
mod configs;

/// A generated config's state as the kernel would report it: a hostname, every NIC
/// `desired` names (NICs are never created) and every sysctl it sets; VLANs down on a
/// parent that is down, and no IPv6 address on a link that is down.
fn as_read(text: &str, desired: &NetState) -> NetState {
    let mut s = load("current.toml", text).expect("generated config").state;
    s.hostname.get_or_insert_with(|| "localhost".into());
    for d in desired.links.values().filter(|d| !d.is_virtual()) {
        s.links.entry(d.name.clone()).or_insert_with(|| {
            let mut nic = crate::model::Link::new(d.name.clone(), d.kind.clone());
            nic.state = AdminState::Down;
            nic
        });
    }
    while let Some(v) = s.links.values().find(|l| vlan_up_on_down(&s, l)) {
        let v = v.name.clone();
        s.links.get_mut(&v).expect("found").state = AdminState::Down;
    }
    for l in s.links.values_mut() {
        l.mtu.get_or_insert(1500);
        if l.state == AdminState::Down {
            l.addresses.retain(|a| a.addr().is_ipv4());
        }
    }
    for k in desired.sysctl.keys() {
        s.sysctl.entry(k.clone()).or_insert_with(|| "0".into());
    }
    s
}

/// A VLAN up on a parent that is down: the kernel refuses it.
fn vlan_up_on_down(s: &NetState, l: &Link) -> bool {
    matches!(l.kind, LinkKind::Vlan { .. })
        && l.state == AdminState::Up
        && l.parent().and_then(|p| s.links.get(p)).map(|p| p.state) == Some(AdminState::Down)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_plan_between_generated_configs_converges_and_reverts(
        a in configs::spec(),
        b in configs::spec(),
    ) {
        let desired = load("desired.toml", &configs::config_text(&b)).expect("generated").state;
        // The validator accepts a VLAN up on a NIC set down, which no kernel can apply.
        prop_assume!(!desired.links.values().any(|l| vlan_up_on_down(&desired, l)));
        let current = as_read(&configs::config_text(&a), &desired);
        let plan = diff(&desired, &current).expect("every NIC and sysctl is there");
        let mut k = FakeKernel::new(current.clone());
        if let Err(e) = apply(&mut k, &desired) {
            panic!("{e}\n{plan}");
        }
        let writes = k.writes;
        prop_assert!(apply(&mut k, &desired).unwrap().plan.is_empty());
        prop_assert_eq!(k.writes, writes, "re-apply wrote");
        for fail in 0..plan.ops.len() {
            let mut k = FakeKernel::new(current.clone());
            k.fail_at = Some(fail);
            let err = apply(&mut k, &desired).unwrap_err();
            prop_assert!(
                matches!(err, ApplyError::Failed { ref revert_failed, .. } if revert_failed.is_empty()),
                "failure at op {}: {}\n{}", fail, err, plan
            );
            prop_assert_eq!(&k.state, &current, "failure at op {}\n{}", fail, plan);
        }
    }
}
