//! What snapshots leave out, against a real kernel: one namespace per test. The agent runs
//! under `ip netns exec` here, which mounts the namespace's own sysfs (where the kernel
//! says how it chose a MAC).

mod support;

use support::{stderr, stdout, Netns};

fn show_inside(ns: &Netns) -> String {
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            env!("CARGO_BIN_EXE_router-agent"),
            "show",
        ])
        .output()
        .expect("ip netns exec router-agent show");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// The interface entry called `name` in a rendered config.
fn entry<'t>(text: &'t str, name: &str) -> &'t str {
    let at = text
        .find(&format!("name = \"{name}\""))
        .unwrap_or_else(|| panic!("no interface {name} in:\n{text}"));
    let rest = &text[at..];
    &rest[..rest.find("[[").unwrap_or(rest.len())]
}

#[test]
fn a_mac_the_kernel_chose_at_random_is_not_config_and_one_set_by_hand_is() {
    let ns = Netns::new("snap-mac");
    ns.sh("link add v0 type veth peer name v1");
    ns.sh("link add v2 type veth peer name v3");
    ns.sh("link set v2 address 02:00:00:00:00:42");
    let text = show_inside(&ns);
    assert!(!entry(&text, "v0").contains("mac ="), "{text}");
    assert!(
        entry(&text, "v2").contains("mac = \"02:00:00:00:00:42\""),
        "{text}"
    );
}
