//! The apply flow against the fake backend.

use super::*;
use crate::model;

fn firewall(text: &str) -> Firewall {
    let v = model::load("test.toml", text).unwrap_or_else(|e| panic!("{e}"));
    v.firewall.expect("the config has a [firewall]")
}

const BASE: &str = r#"
version = 1
[firewall]
input = "drop"
[firewall.zone.mgmt]
interfaces = ["eth0"]
[[firewall.rule]]
chain = "input"
in_zone = "mgmt"
protocol = "tcp"
dport = 22
action = "accept"
"#;

fn apply_fw(b: &mut FakeBackend, desired: Option<&Firewall>) -> Result<Report, FirewallError> {
    let before = read_for(b, desired)?;
    let p = plan(desired, &before)?;
    check(b, &p)?;
    apply(b, desired, p, before)
}

#[test]
fn applies_then_does_nothing_the_second_time() {
    let fw = firewall(BASE);
    let mut b = FakeBackend::default();
    let r = apply_fw(&mut b, Some(&fw)).unwrap();
    assert!(!r.plan.is_empty());
    assert_eq!(b.runs, 1);
    assert!(r
        .plan
        .to_string()
        .contains("+ firewall table inet router_agent"));
    let again = apply_fw(&mut b, Some(&fw)).unwrap();
    assert!(again.plan.is_empty());
    assert_eq!(b.runs, 1, "an unchanged firewall runs no transaction");
}

#[test]
fn a_rejected_transaction_changes_nothing() {
    let mut b = FakeBackend {
        reject: Some("syntax error".into()),
        ..FakeBackend::default()
    };
    let fw = firewall(BASE);
    let e = apply_fw(&mut b, Some(&fw)).unwrap_err();
    assert!(e.to_string().contains("nothing was changed"), "{e}");
    assert_eq!(b.runs, 0);
    assert_eq!(b.current, Current::default());
}

#[test]
fn a_firewall_that_reads_back_different_is_reverted() {
    let old = firewall(BASE);
    let mut b = FakeBackend::default();
    apply_fw(&mut b, Some(&old)).unwrap();
    let new = firewall(&BASE.replace("dport = 22", "dport = 2222"));
    let mut odd = b.current.clone();
    if let Some(f) = odd.firewall.as_mut() {
        f.zones.clear();
    }
    b.drift = Some(odd);
    let e = apply_fw(&mut b, Some(&new)).unwrap_err();
    assert!(matches!(e, FirewallError::NotConverged(_)), "{e}");
    assert_eq!(
        b.current.firewall.as_ref(),
        Some(&old),
        "reverted to the old firewall"
    );
}

#[test]
fn no_firewall_section_removes_the_agents_table() {
    let fw = firewall(BASE);
    let mut b = FakeBackend::default();
    apply_fw(&mut b, Some(&fw)).unwrap();
    let r = apply_fw(&mut b, None).unwrap();
    assert!(r
        .plan
        .to_string()
        .contains("- firewall table inet router_agent"));
    assert!(r
        .plan
        .apply
        .as_ref()
        .is_some_and(|t| t.script.text == "delete table inet router_agent\n"));
    assert_eq!(b.current.firewall, None);
}

#[test]
fn the_plan_lists_rule_changes_and_the_revert_restores_the_old_table() {
    let old = firewall(BASE);
    let new = firewall(&BASE.replace("dport = 22", "dport = [22, 2222]"));
    let current = Current {
        firewall: Some(old.clone()),
        tables: Default::default(),
    };
    let p = plan(Some(&new), &current).unwrap();
    let text = p.to_string();
    assert!(
        text.contains("- firewall input: iifname @zone_mgmt tcp dport 22 accept"),
        "{text}"
    );
    assert!(
        text.contains("+ firewall input: iifname @zone_mgmt tcp dport { 22, 2222 } accept"),
        "{text}"
    );
    let revert = p.revert.expect("a revert transaction");
    assert_eq!(revert.result, Some(old));
    assert!(revert.script.text.contains("tcp dport 22 accept"));
}

/// The marker is the SHA-256 of the nft text the agent writes for the table (with an empty
/// comment), not of a Debug string: pinned, so a change to it is a decision.
#[test]
fn the_marker_is_pinned_to_the_written_text() {
    use sha2::{Digest, Sha256};
    let c = compile::compile(&firewall(BASE));
    assert_eq!(c.marker, "d2fe4dab756eccaa");
    let text = script::content_text(&c.items);
    assert!(
        text.starts_with("add table inet router_agent { comment \"\"; }\n"),
        "{text}"
    );
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(c.marker, hex);
}
