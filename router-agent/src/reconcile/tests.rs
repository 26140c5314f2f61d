use super::*;
use crate::model::load;

const CURRENT: &str = r#"
version = 1
sysctl = { ipv4_forwarding = false }
[[interface]]
name = "eth0"
kind = "physical"
addresses = ["192.0.2.1/24"]
[[interface]]
name = "old0"
kind = "bridge"
addresses = ["198.51.100.1/24"]
[[route]]
to = "10.9.0.0/16"
via = "198.51.100.2"
"#;

const DESIRED: &str = r#"
version = 1
sysctl = { ipv4_forwarding = true }
[[interface]]
name = "eth0"
kind = "physical"
mtu = 9000
addresses = ["192.0.2.1/24", "2001:db8::1/64"]
[[interface]]
name = "br0"
kind = "bridge"
bridge = { ports = ["eth1"] }
addresses = ["203.0.113.1/24"]
[[interface]]
name = "eth1"
kind = "physical"
[[route]]
to = "10.0.0.0/8"
via = "192.0.2.254"
[[route]]
prefixes = ["192.168.0.0/16", "172.16.0.0/12"]
type = "blackhole"
[[rule]]
priority = 100
from = "10.0.0.0/8"
table = 100
"#;

fn current() -> NetState {
    let mut s = load("current", CURRENT).unwrap().state;
    let eth1 = crate::model::Link::new(
        "eth1".parse().unwrap(),
        crate::model::LinkKind::Physical { match_mac: None },
    );
    s.links.insert(eth1.name.clone(), eth1);
    for l in s.links.values_mut() {
        l.mtu = Some(1500);
    }
    s.sysctl.insert("net.ipv4.ip_forward".into(), "0".into());
    s
}

#[test]
fn apply_converges_then_reapply_writes_nothing() {
    let desired = load("desired", DESIRED).unwrap().state;
    let mut k = FakeKernel::new(current());
    let report = apply(&mut k, &desired).unwrap();
    assert!(!report.plan.is_empty());
    assert!(diff(&desired, &k.state).unwrap().is_empty());
    let writes = k.writes;
    let again = apply(&mut k, &desired).unwrap();
    assert!(again.plan.is_empty());
    assert_eq!(k.writes, writes, "an unchanged config must not write");
}

#[test]
fn failure_at_every_step_reverts_to_the_exact_state_before() {
    let desired = load("desired", DESIRED).unwrap().state;
    let n = diff(&desired, &current()).unwrap().ops.len();
    for fail in 0..n {
        let mut k = FakeKernel::new(current());
        k.fail_at = Some(fail);
        let err = apply(&mut k, &desired).unwrap_err();
        assert!(
            matches!(err, ApplyError::Failed { ref revert_failed, .. } if revert_failed.is_empty()),
            "{err}"
        );
        assert_eq!(
            k.state,
            current(),
            "failure at op {fail} left the state changed"
        );
    }
}

#[test]
fn a_change_the_kernel_ignores_is_caught_by_verify_and_reverted() {
    let desired = load("desired", DESIRED).unwrap().state;
    let mut k = FakeKernel::new(current());
    k.ignore_mtu = true;
    let err = apply(&mut k, &desired).unwrap_err();
    assert!(matches!(err, ApplyError::NotConverged { .. }), "{err}");
    assert!(err.to_string().contains("mtu 1500 -> 9000"), "{err}");
    assert_eq!(k.state, current());
}

#[test]
fn any_route_difference_after_the_write_is_caught_by_verify() {
    let desired = load("desired", DESIRED).unwrap().state;
    fn key(s: &NetState, dst: &str) -> crate::model::RouteKey {
        let dst = dst.parse().unwrap();
        s.routes.values().find(|r| r.key.dst == dst).unwrap().key
    }
    type Meddle = fn(&mut NetState);
    let meddling: [(Meddle, &str); 3] = [
        (
            |s| {
                s.routes.remove(&key(s, "172.16.0.0/12"));
            },
            "+ route blackhole 172.16.0.0/12",
        ),
        (
            |s| {
                let mut r = s.routes.get(&key(s, "10.0.0.0/8")).unwrap().clone();
                r.via = Some("192.0.2.253".parse().unwrap());
                s.routes.insert(r);
            },
            "~ route 10.0.0.0/8 via 192.0.2.254",
        ),
        (
            |s| {
                let mut r = s.routes.get(&key(s, "10.0.0.0/8")).unwrap().clone();
                r.key.dst = "10.1.0.0/16".parse().unwrap();
                s.routes.insert(r);
            },
            "- route 10.1.0.0/16",
        ),
    ];
    for (meddle, residual) in meddling {
        let mut k = FakeKernel::new(current());
        k.meddle = Some(meddle);
        let err = apply(&mut k, &desired).unwrap_err();
        assert!(matches!(err, ApplyError::NotConverged { .. }), "{err}");
        assert!(err.to_string().contains(residual), "{err}");
    }
}

#[test]
fn interrupted_reads_are_read_again() {
    let mut k = FakeKernel::new(current());
    k.interrupted_reads = 0..1;
    assert_eq!(k.read(&[]).unwrap(), current());
    let mut k = FakeKernel::new(current());
    k.interrupted_reads = 0..READ_TRIES;
    let err = k.read(&[]).unwrap_err();
    assert!(err.to_string().contains("interrupted"), "{err}");
    // Read 1 is verification's: it reads again, whole.
    let desired = load("desired", DESIRED).unwrap().state;
    let mut k = FakeKernel::new(current());
    k.interrupted_reads = 1..2;
    let report = apply(&mut k, &desired).unwrap();
    assert!(diff(&desired, report.state.as_ref().unwrap())
        .unwrap()
        .is_empty());
}

/// The golden cases' current and desired states (tests/cases), those that plan at all.
fn golden_cases() -> Vec<(String, NetState, NetState)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let read = |p: std::path::PathBuf| {
        let text = std::fs::read_to_string(&p).unwrap();
        load(&p.display().to_string(), &text).unwrap().state
    };
    let cases: Vec<_> = dirs
        .into_iter()
        .map(|d| {
            let name = d.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                read(d.join("current.toml")),
                read(d.join("desired.toml")),
            )
        })
        .filter(|(_, c, d)| diff(d, c).is_ok())
        .collect();
    assert!(cases.len() > 10, "too few golden cases plan");
    cases
}

/// The fake kernel does what the real one does by itself when links go down and up (VLANs
/// follow their parent, bonds open their members, IPv6 addresses go with the link): every
/// golden plan converges on it, and a failure at any step reverts exactly.
#[test]
fn every_golden_plan_converges_and_reverts_on_a_kernel_with_side_effects() {
    for (name, current, desired) in golden_cases() {
        let mut k = FakeKernel::new(current.clone());
        if let Err(e) = apply(&mut k, &desired) {
            panic!("{name}: {e}");
        }
        let writes = k.writes;
        assert!(apply(&mut k, &desired).unwrap().plan.is_empty(), "{name}");
        assert_eq!(k.writes, writes, "{name}: re-apply wrote");
        let n = diff(&desired, &current).unwrap().ops.len();
        for fail in 0..n {
            let mut k = FakeKernel::new(current.clone());
            k.fail_at = Some(fail);
            let err = apply(&mut k, &desired).unwrap_err();
            assert!(
                matches!(err, ApplyError::Failed { ref revert_failed, .. } if revert_failed.is_empty()),
                "{name}, failure at op {fail}: {err}"
            );
            assert_eq!(k.state, current, "{name}: failure at op {fail}");
        }
    }
}

#[test]
fn a_panic_at_every_step_reverts_to_the_exact_state_before() {
    let desired = load("desired", DESIRED).unwrap().state;
    let n = diff(&desired, &current()).unwrap().ops.len();
    for at in 0..n {
        let mut k = FakeKernel::new(current());
        k.panic_at = Some(at);
        let err = apply(&mut k, &desired).unwrap_err();
        assert!(
            matches!(err, ApplyError::Panicked { ref revert_failed, .. } if revert_failed.is_empty()),
            "{err}"
        );
        assert!(err.to_string().contains("injected panic"), "{err}");
        assert_eq!(
            k.state,
            current(),
            "a panic at op {at} left the state changed"
        );
    }
}

/// eth0, and a bridge named `bridge` when given, as the kernel would show them.
fn with_bridge(bridge: Option<&str>, more: &str) -> NetState {
    let mut text = "version = 1\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\nmtu = 1500\naddresses = [\"192.0.2.1/24\"]\n".to_owned();
    if let Some(b) = bridge {
        text.push_str(&format!(
            "[[interface]]\nname = \"{b}\"\nkind = \"bridge\"\nmtu = 1500\naddresses = [\"198.51.100.1/24\"]\n"
        ));
    }
    text.push_str(more);
    load("state", &text).unwrap().state
}

const ROUTE: &str = "[[route]]\nto = \"10.0.0.0/8\"\nvia = \"192.0.2.254\"\n";

#[test]
fn a_failed_apply_renames_a_renamed_link_back() {
    let before = with_bridge(Some("br0"), "");
    let desired = with_bridge(Some("br1"), ROUTE);
    let plan = diff(&desired, &before).unwrap();
    assert!(
        plan.ops
            .iter()
            .any(|op| matches!(op, Op::RenameLink { .. })),
        "{plan}"
    );
    let mut k = FakeKernel::new(before.clone());
    k.fail_at = Some(plan.ops.len() - 1);
    let err = apply(&mut k, &desired).unwrap_err();
    assert!(
        matches!(err, ApplyError::Failed { ref recreated, ref revert_failed, .. } if recreated.is_empty() && revert_failed.is_empty()),
        "{err}"
    );
    assert!(
        err.to_string().contains("the kernel is as it was before"),
        "{err}"
    );
    assert_eq!(k.state, before);
}

#[test]
fn a_revert_that_creates_a_link_again_says_so() {
    let before = with_bridge(Some("gone0"), "");
    let desired = with_bridge(None, ROUTE);
    let plan = diff(&desired, &before).unwrap();
    let mut k = FakeKernel::new(before.clone());
    k.fail_at = Some(plan.ops.len() - 1);
    let err = apply(&mut k, &desired).unwrap_err();
    assert!(
        matches!(err, ApplyError::Failed { ref recreated, .. } if recreated.len() == 1 && recreated[0].as_str() == "gone0"),
        "{err}"
    );
    let text = err.to_string();
    assert!(!text.contains("as it was before"), "{text}");
    assert!(
        text.contains("gone0 was deleted and created again"),
        "{text}"
    );
    assert!(text.contains("new interface index"), "{text}");
    assert_eq!(k.state, before, "the same settings");
}
