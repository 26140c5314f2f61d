//! A failed apply's revert keeps the links' identity, or says it could not (issue 15,
//! finding 7): a link renamed in the config is renamed, and renamed back by the revert;
//! one the revert had to create again is named in the error, with its new index.

mod support;

use support::{stderr, Netns};

fn base(bridge: &str) -> String {
    format!(
        r#"version = 1

[[interface]]
name = "v0"
kind = "veth"
veth = {{ peer = "v1" }}
addresses = ["10.0.0.1/24"]

[[interface]]
name = "v1"
kind = "veth"
veth = {{ peer = "v0" }}

[[interface]]
name = "{bridge}"
kind = "bridge"
bridge = {{ ports = ["v1"] }}
addresses = ["10.6.0.1/24"]
"#
    )
}

/// A route the kernel refuses (its source is no local address), planned last.
const REFUSED_ROUTE: &str =
    "\n[[route]]\nto = \"10.1.0.0/16\"\nvia = \"10.0.0.2\"\nsrc = \"10.99.0.1\"\n";

fn ifindex(ns: &Netns, name: &str) -> Option<u64> {
    let links = ns.json(&["link", "show"]);
    links.as_array()?.iter().find_map(|l| {
        (l["ifname"] == name)
            .then(|| l["ifindex"].as_u64())
            .flatten()
    })
}

/// The namespace's state without link-local IPv6 addresses: a link that goes down and up
/// (as a rename needs) gets its link-local address again from its MAC of now, and a bridge's
/// MAC follows its ports after it was made. That one has one is checked apart.
fn without_link_local(ns: &Netns) -> serde_json::Value {
    let mut v = ns.snapshot();
    if let Some(a) = v["addresses"].as_array_mut() {
        a.retain(|x| x["scope"] != "link" || x["family"] != "inet6");
    }
    v
}

fn has_link_local(ns: &Netns, name: &str) -> bool {
    ns.snapshot()["addresses"].as_array().is_some_and(|a| {
        a.iter()
            .any(|x| x["ifname"] == name && x["scope"] == "link" && x["family"] == "inet6")
    })
}

fn apply(ns: &Netns, tag: &str, text: &str) -> std::process::Output {
    let file = std::env::temp_dir().join(format!("{}-{tag}.toml", ns.name));
    std::fs::write(&file, text).expect("write config");
    ns.agent("apply", file.to_str())
}

#[test]
fn a_renamed_bridge_is_renamed_and_renamed_back_when_the_apply_fails() {
    let ns = Netns::new("rename");
    let first = apply(&ns, "a", &base("br0"));
    assert!(first.status.success(), "{}", stderr(&first));
    let index = ifindex(&ns, "br0").expect("br0 exists");
    let before = without_link_local(&ns);

    let text = format!("{}{REFUSED_ROUTE}", base("br1"));
    let file = std::env::temp_dir().join(format!("{}-plan.toml", ns.name));
    std::fs::write(&file, &text).expect("write config");
    let plan = ns.agent("plan", file.to_str());
    let planned = support::stdout(&plan);
    assert!(planned.contains("link br0: rename to br1"), "{planned}");
    assert!(!planned.contains("- link br0"), "{planned}");
    let failed = apply(&ns, "b", &text);
    assert!(!failed.status.success(), "the route must be refused");
    let err = stderr(&failed);
    assert!(err.contains("the kernel is as it was before"), "{err}");
    assert_eq!(
        ifindex(&ns, "br0"),
        Some(index),
        "br0 lost its identity:\n{err}"
    );
    assert_eq!(without_link_local(&ns), before);
    assert!(has_link_local(&ns, "br0"));

    // And without the refused route the rename goes through, keeping the index.
    let renamed = apply(&ns, "c", &base("br1"));
    assert!(renamed.status.success(), "{}", stderr(&renamed));
    assert_eq!(ifindex(&ns, "br1"), Some(index));
    assert_eq!(ifindex(&ns, "br0"), None);
}

#[test]
fn a_link_the_revert_creates_again_is_named_in_the_error() {
    let ns = Netns::new("recreate");
    let first = apply(&ns, "a", &base("br0"));
    assert!(first.status.success(), "{}", stderr(&first));
    let index = ifindex(&ns, "br0").expect("br0 exists");
    // br0 goes (deleted), the route fails, the revert creates br0 again.
    let without_bridge = base("br0").replace(
        "[[interface]]\nname = \"br0\"\nkind = \"bridge\"\nbridge = { ports = [\"v1\"] }\naddresses = [\"10.6.0.1/24\"]\n",
        "",
    );
    assert!(!without_bridge.contains("br0"), "{without_bridge}");
    let failed = apply(&ns, "b", &format!("{without_bridge}{REFUSED_ROUTE}"));
    assert!(!failed.status.success(), "the route must be refused");
    let err = stderr(&failed);
    let now = ifindex(&ns, "br0").expect("br0 is back");
    assert_ne!(now, index, "a deleted link cannot come back with its index");
    assert!(!err.contains("the kernel is as it was before"), "{err}");
    assert!(
        err.contains(&format!(
            "br0 was deleted and created again (interface index {index} is now {now})"
        )) || err.contains("br0 was deleted and created again"),
        "{err}"
    );
}
