//! `router-agent` against real kernels: one namespace (or two) per test, `ip -j` as witness.

mod support;

use support::{monitor_during, stderr, stdout, Netns};

/// Builds a state covering most of the model by hand, as an operator would.
fn build_by_hand(ns: &Netns) {
    for line in [
        "link add v0 type veth peer name v1",
        "link add br0 type bridge",
        "link set v1 master br0",
        "link set v0 up",
        "link set v1 up",
        "link set br0 up",
        "link set v0 mtu 9000",
        "link set v0 alias uplink",
        "link add mv0 link v0 type macvlan mode bridge",
        "link set mv0 up",
        "addr add 10.0.0.1/24 dev v0",
        "addr add 2001:db8::1/64 dev v0",
        "addr add 10.5.0.1/24 dev mv0",
        "addr add 10.6.0.1/24 dev br0",
        "route add 10.1.0.0/16 via 10.0.0.2",
        "route add 10.3.0.0/16 via 10.0.0.2 metric 50 src 10.0.0.1",
        "route add blackhole 192.168.0.0/16 table 100 metric 5",
        "route add unreachable 192.168.1.0/24",
        "route add prohibit 192.168.2.0/24 table 200",
        "route add 10.2.0.0/16 nexthop via 10.0.0.2 weight 2 nexthop via 10.6.0.3",
        "route add 10.4.0.0/16 via 10.9.9.9 dev v0 onlink",
        "route add 2001:db8:1::/48 via 2001:db8::2",
        "route add 2001:db8:2::/48 dev v0 metric 10",
        "rule add from 10.0.0.0/8 table 100 prio 100",
        "rule add fwmark 0x10/0xff table 200 prio 200",
        "rule add iif v0 to 192.168.0.0/16 blackhole prio 300",
        "-6 rule add from 2001:db8::/32 table 100 prio 100",
    ] {
        ns.sh(line);
    }
}

#[test]
fn show_then_apply_in_a_fresh_namespace_gives_the_same_kernel_state() {
    let a = Netns::new("rt-a");
    let b = Netns::new("rt-b");
    build_by_hand(&a);
    let shown = a.agent("show", None);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let file = std::env::temp_dir().join(format!("{}.toml", a.name));
    std::fs::write(&file, stdout(&shown)).unwrap();
    let file = file.to_str().unwrap();
    let applied = b.agent("apply", Some(file));
    assert!(applied.status.success(), "{}", stderr(&applied));
    support::assert_settles(|| a.snapshot(), || b.snapshot(), "show in A, apply in B");

    // Again: nothing to do, and nothing written.
    let events = monitor_during(&b, || {
        let again = b.agent("apply", Some(file));
        assert!(again.status.success(), "{}", stderr(&again));
    });
    assert_eq!(
        events, "",
        "re-applying an unchanged config wrote to the kernel"
    );
    let reshown = b.agent("show", None);
    assert_eq!(stdout(&reshown), stdout(&shown));
}

#[test]
fn plan_writes_nothing_and_lists_the_changes() {
    let ns = Netns::new("plan");
    let file = std::env::temp_dir().join(format!("{}.toml", ns.name));
    std::fs::write(
        &file,
        r#"version = 1
[[interface]]
name = "br9"
kind = "bridge"
addresses = ["10.9.0.1/24"]
[[route]]
to = "10.10.0.0/16"
via = "10.9.0.2"
"#,
    )
    .unwrap();
    let mut out = None;
    let events = monitor_during(&ns, || out = Some(ns.agent("plan", file.to_str())));
    let out = out.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(events, "");
    let text = stdout(&out);
    assert!(text.contains("+ link br9 (bridge"), "{text}");
    assert!(text.contains("+ route 10.10.0.0/16 via 10.9.0.2"), "{text}");
    assert!(
        text.contains("Plan: 3 to add, 0 to change, 0 to remove."),
        "{text}"
    );
}

#[test]
fn routes_and_addresses_of_other_owners_are_never_touched() {
    let ns = Netns::new("own");
    for line in [
        "link add v0 type veth peer name v1",
        "link set v0 up",
        "addr add 10.0.0.1/24 dev v0",
        "addr add 10.0.1.1/24 dev v0 valid_lft 3000 preferred_lft 3000",
        "route add 10.1.0.0/16 via 10.0.0.2 proto bird",
        "route add 10.2.0.0/16 via 10.0.0.2 proto dhcp",
        "route add 10.3.0.0/16 via 10.0.0.2 proto static",
        "route add 10.4.0.0/16 via 10.0.0.2",
    ] {
        ns.sh(line);
    }
    let shown = stdout(&ns.agent("show", None));
    assert!(
        !shown.contains("10.1.0.0/16") && !shown.contains("10.2.0.0/16"),
        "{shown}"
    );
    assert!(
        !shown.contains("10.0.1.1"),
        "a leased address is not config: {shown}"
    );
    assert!(
        shown.contains("10.3.0.0/16") && shown.contains("10.4.0.0/16"),
        "{shown}"
    );

    // A config without any of the routes: the operator's go, BIRD's and DHCP's stay.
    let file = std::env::temp_dir().join(format!("{}.toml", ns.name));
    std::fs::write(
        &file,
        "version = 1\n[[interface]]\nname = \"v0\"\nkind = \"veth\"\naddresses = [\"10.0.0.1/24\"]\nveth = { peer = \"v1\" }\n[[interface]]\nname = \"v1\"\nkind = \"veth\"\nstate = \"down\"\nveth = { peer = \"v0\" }\n",
    )
    .unwrap();
    let out = ns.agent("apply", file.to_str());
    assert!(out.status.success(), "{}", stderr(&out));
    let routes = ns.json(&["route", "show"]).to_string();
    assert!(
        routes.contains("10.1.0.0") && routes.contains("10.2.0.0"),
        "{routes}"
    );
    assert!(
        !routes.contains("10.3.0.0") && !routes.contains("10.4.0.0"),
        "{routes}"
    );
    let addrs = ns.json(&["addr", "show", "dev", "v0"]).to_string();
    assert!(
        addrs.contains("10.0.1.1"),
        "the leased address must stay: {addrs}"
    );
}

#[test]
fn a_change_the_kernel_refuses_leaves_everything_as_it_was() {
    let ns = Netns::new("revert");
    build_by_hand(&ns);
    let before = ns.snapshot();
    let shown = stdout(&ns.agent("show", None));
    // Valid as a config, refused by the kernel: the preferred source is no local address.
    // Around it, changes that must be undone, one with a side effect (the MTU of v0 clamps
    // the MTU of mv0, stacked on it).
    let bad = shown.replace("mtu = 9000", "mtu = 1400")
        + "\n[[route]]\nto = \"10.77.0.0/16\"\nvia = \"10.0.0.2\"\nsrc = \"10.99.99.99\"\n"
        + "\n[[interface]]\nname = \"br7\"\nkind = \"bridge\"\n";
    let file = std::env::temp_dir().join(format!("{}.toml", ns.name));
    std::fs::write(&file, bad).unwrap();
    let out = ns.agent("apply", file.to_str());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("10.77.0.0/16") && err.contains("all changes were reverted"),
        "{err}\n{}",
        stdout(&out)
    );
    support::assert_same(&ns.snapshot(), &before, "after a failed apply");
}

#[test]
fn declarative_apply_removes_what_the_config_no_longer_has() {
    let ns = Netns::new("prune");
    build_by_hand(&ns);
    let file = std::env::temp_dir().join(format!("{}.toml", ns.name));
    std::fs::write(
        &file,
        "version = 1\n[[interface]]\nname = \"v0\"\nkind = \"veth\"\naddresses = [\"10.0.0.1/24\"]\nveth = { peer = \"v1\" }\n[[interface]]\nname = \"v1\"\nkind = \"veth\"\nveth = { peer = \"v0\" }\n[[route]]\nto = \"10.1.0.0/16\"\nvia = \"10.0.0.2\"\n",
    )
    .unwrap();
    let out = ns.agent("apply", file.to_str());
    assert!(out.status.success(), "{}", stderr(&out));
    let links = ns.json(&["link", "show"]).to_string();
    assert!(!links.contains("br0") && !links.contains("mv0"), "{links}");
    let routes = ns.json(&["route", "show", "table", "all"]).to_string();
    assert!(
        routes.contains("10.1.0.0")
            && !routes.contains("10.2.0.0")
            && !routes.contains("192.168.0.0"),
        "{routes}"
    );
    let rules = ns.json(&["rule", "show"]).to_string();
    assert!(!rules.contains("\"priority\":100"), "{rules}");
    let v0 = ns.json(&["link", "show", "v0"]).to_string();
    assert!(
        v0.contains("\"mtu\":1500"),
        "an omitted MTU is the default, 1500: {v0}"
    );
    // And what remains matches the config exactly.
    let again = ns.agent("plan", file.to_str());
    assert!(stdout(&again).contains("No changes"), "{}", stdout(&again));
}

#[test]
fn check_reports_file_line_and_column_and_touches_nothing() {
    let file = std::env::temp_dir().join(format!("check-{}.toml", std::process::id()));
    std::fs::write(&file, "version = 1\n[[interface]]\nname = \"eth0\"\nkind = \"vlan\"\nvlan = { parent = \"nope\", id = 5 }\n").unwrap();
    let out = support::agent(&["check", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:5:", file.display()))
            && err.contains("unknown parent interface nope"),
        "{err}"
    );
}

#[test]
fn a_missing_namespace_is_a_clear_error() {
    support::require_root();
    let out = support::agent(&["show", "--netns", "ra-does-not-exist"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ip netns add ra-does-not-exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn many_routes_through_one_gateway_share_a_nexthop_object_and_read_back_as_routes() {
    let ns = Netns::new("nh");
    ns.sh("link add v0 type veth peer name v1");
    let mut config = String::from(
        "version = 1\n[[interface]]\nname = \"v0\"\nkind = \"veth\"\naddresses = [\"192.0.2.1/24\"]\nveth = { peer = \"v1\" }\n[[interface]]\nname = \"v1\"\nkind = \"veth\"\nveth = { peer = \"v0\" }\n[[route]]\nvia = \"192.0.2.2\"\ndev = \"v0\"\nprefixes = \"\"\"\n",
    );
    for i in 0..1500u32 {
        config.push_str(&format!("10.{}.{}.0/24\n", i / 256, i % 256));
    }
    config.push_str("\"\"\"\n");
    let file = std::env::temp_dir().join(format!("{}.toml", ns.name));
    std::fs::write(&file, &config).unwrap();
    let out = ns.agent("apply", file.to_str());
    assert!(out.status.success(), "{}", stderr(&out));

    let objects = ns.json(&["nexthop", "show"]);
    let objects = objects.as_array().unwrap();
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(objects[0]["gateway"], "192.0.2.2");
    let routes = ns.json(&["route", "show", "proto", "196"]);
    assert_eq!(routes.as_array().unwrap().len(), 1500);
    assert!(routes
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["nhid"] == objects[0]["id"]));

    // Read back as plain routes: nothing to do, and `show` lists them with their gateway.
    let again = ns.agent("plan", file.to_str());
    assert!(stdout(&again).contains("No changes"), "{}", stdout(&again));
    let shown = stdout(&ns.agent("show", None));
    assert!(
        shown.contains("via = \"192.0.2.2\"") && shown.contains("10.5.219.0/24"),
        "{shown}"
    );

    // Without the routes the object is unused, and the next write removes it.
    let without = config[..config.find("[[route]]").unwrap()].to_owned();
    std::fs::write(&file, &without).unwrap();
    assert!(ns.agent("apply", file.to_str()).status.success());
    assert_eq!(
        ns.json(&["route", "show", "proto", "196"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    std::fs::write(
        &file,
        without + "[[route]]\nto = \"198.51.100.0/24\"\nvia = \"192.0.2.2\"\n",
    )
    .unwrap();
    assert!(ns.agent("apply", file.to_str()).status.success());
    assert_eq!(ns.json(&["nexthop", "show"]).as_array().unwrap().len(), 0);
}

/// The planner assumes that a macvlan, unlike a VLAN, keeps its own state when its parent
/// goes down and comes up (the kernel passes only the carrier on): a macvlan the config
/// wants down stays down through an apply that takes its parent down and up.
#[test]
fn a_macvlan_keeps_its_state_when_its_parent_goes_down_and_up() {
    let ns = Netns::new("mvstate");
    for line in [
        "link add v0 type veth peer name v1",
        "link set v0 up",
        "link add mv0 link v0 type macvlan mode bridge",
    ] {
        ns.sh(line);
    }
    let file = std::env::temp_dir().join(format!("{}.toml", ns.name));
    let config = |v0_state: &str| {
        format!(
            "version = 1\n[[interface]]\nname = \"v0\"\nkind = \"veth\"\nstate = \"{v0_state}\"\nveth = {{ peer = \"v1\" }}\n[[interface]]\nname = \"v1\"\nkind = \"veth\"\nstate = \"down\"\nveth = {{ peer = \"v0\" }}\n[[interface]]\nname = \"mv0\"\nkind = \"macvlan\"\nstate = \"down\"\nmacvlan = {{ parent = \"v0\", mode = \"bridge\" }}\n"
        )
    };
    let admin_up = |name: &str| {
        ns.json(&["link", "show", name])[0]["flags"]
            .as_array()
            .expect("link flags")
            .iter()
            .any(|f| f == "UP")
    };
    for v0_state in ["down", "up"] {
        std::fs::write(&file, config(v0_state)).unwrap();
        let out = ns.agent("apply", file.to_str());
        assert!(out.status.success(), "v0 {v0_state}: {}", stderr(&out));
        assert_eq!(admin_up("v0"), v0_state == "up");
        assert!(!admin_up("mv0"), "mv0 came up with v0 {v0_state}");
        let again = ns.agent("plan", file.to_str());
        assert!(stdout(&again).contains("No changes"), "{}", stdout(&again));
    }
}
