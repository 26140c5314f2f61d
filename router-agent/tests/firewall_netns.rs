//! The firewall against real nftables, one namespace per side; `nft -j` as the witness.

mod support;

use support::{run, stderr, stdout, Netns};

fn write(ns: &Netns, tag: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}-{tag}.toml", ns.name));
    std::fs::write(&path, text).expect("write config");
    path.to_string_lossy().into_owned()
}

const CONFIG: &str = r#"version = 1

[firewall]
input = "drop"
forward = "drop"
raw = """
chain mark_te {
	type filter hook prerouting priority mangle; policy accept;
	meta l4proto 89 meta mark set 0x00000100
}
"""

[firewall.zone.lan]
interfaces = ["lan0", "br-lan"]
[firewall.zone.wan]
interfaces = ["wan0"]

[firewall.set.bogons]
type = "ipv4"
elements = """
10.0.0.0/8
172.16.0.0/12
192.168.0.0/16
"""

[firewall.set.web]
type = "port"
elements = [80, 443, "8000-8080"]

[firewall.chain.ssh_guard]

[[firewall.rule]]
chain = "input"
state = ["established", "related"]
action = "accept"

[[firewall.rule]]
chain = "input"
in_zone = "lan"
protocol = "tcp"
dport = 22
counter = true
action = "jump ssh_guard"
comment = "ssh"

[[firewall.rule]]
chain = "ssh_guard"
limit = "10/minute"
burst = 20
action = "accept"

[[firewall.rule]]
chain = "input"
in_zone = "wan"
source = "@bogons"
log = "bogon: "
action = "drop"

[[firewall.rule]]
chain = "input"
protocol = "icmpv6"
action = "accept"

[[firewall.rule]]
chain = "input"
protocol = ["tcp", "udp"]
dport = 53
source = ["10.1.0.0/16", "10.2.0.0/16"]
action = "accept"

[[firewall.rule]]
chain = "input"
protocol = "tcp"
dport = "@web"
action = "reject"
reject_with = "tcp-reset"

[[firewall.rule]]
chain = "input"
raw = "meta mark 0x00000001 counter accept"

[[firewall.rule]]
chain = "forward"
in_zone = "lan"
out_zone = "wan"
action = "accept"

[[firewall.rule]]
chain = "input"
protocol = 89
action = "accept"

[[firewall.nat]]
action = "masquerade"
out_zone = "wan"

[[firewall.nat]]
action = "dnat"
in_zone = "wan"
protocol = "tcp"
dport = 8080
to = "192.168.1.10:80"

[[firewall.table]]
family = "inet"
name = "keepme"
ruleset = """
table inet keepme {
	chain c {
		tcp dport 1 drop
	}
}
"""
"#;

#[test]
fn show_then_apply_elsewhere_gives_the_same_ruleset_hand_edits_included() {
    let a = Netns::new("fwa");
    let file = write(&a, "cfg", CONFIG);
    let out = a.agent("apply", Some(&file));
    assert!(out.status.success(), "{}", stderr(&out));
    // Hand edits: a rule the model says, rules it cannot (kept as raw), a new set
    // element, a map, and a rule in the kept table.
    for line in [
        "add rule inet router_agent forward iifname \"x0\" udp dport 500 accept",
        "add rule inet router_agent input tcp dport 9999 iifname \"x1\" drop",
        "add rule inet router_agent input meta mark 0x2 ip saddr 10.9.0.0/16 drop",
        "add element inet router_agent bogons { 100.64.0.0/10 }",
        "add map inet router_agent m { type ipv4_addr : verdict; }",
        "add element inet router_agent m { 192.0.2.1 : drop }",
        "add rule inet keepme c udp dport 2 drop",
    ] {
        a.nft(line);
    }
    let shown = a.agent("show", None);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = stdout(&shown);
    assert!(
        text.contains("raw = 'tcp dport 9999 iifname \"x1\" drop'"),
        "{text}"
    );
    assert!(text.contains("100.64.0.0/10"), "{text}");
    assert!(text.contains("udp dport 2 drop"), "{text}");
    let b = Netns::new("fwb");
    let shown_file = write(&b, "shown", &text);
    let out = b.agent("apply", Some(&shown_file));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        a.ruleset(),
        b.ruleset(),
        "ruleset differs after show in A, apply in B"
    );
    let again = b.agent("show", None);
    assert_eq!(stdout(&again), text, "show differs between A and B");
}

#[test]
fn an_unchanged_firewall_runs_no_transaction() {
    let ns = Netns::new("fwnoop");
    let file = write(&ns, "cfg", CONFIG);
    let out = ns.agent("apply", Some(&file));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("firewall:"), "{}", stderr(&out));
    let before = ns.nft("-a list ruleset");
    let out = ns.agent("apply", Some(&file));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("firewall:"), "{}", stderr(&out));
    // A replaced table would have new handles.
    assert_eq!(ns.nft("-a list ruleset"), before);
}

#[test]
fn bad_input_points_at_the_line_and_leaves_the_ruleset_alone() {
    let ns = Netns::new("fwbad");
    let file = write(&ns, "good", CONFIG);
    let out = ns.agent("apply", Some(&file));
    assert!(out.status.success(), "{}", stderr(&out));
    let before = ns.nft("-a list ruleset");
    let cases = [
        (
            CONFIG.replace("meta mark 0x00000001 counter accept", "meta mark 0x1 acept"),
            "firewall.rule[7].raw",
        ),
        (
            CONFIG.replace("in_zone = \"lan\"", "in_zone = \"dmz\""),
            "no zone named dmz",
        ),
        (
            CONFIG.replace("dport = 8080", "dport = 80800"),
            "out of range",
        ),
        (
            CONFIG.replace("source = \"@bogons\"", "source = \"@nope\""),
            "no set named nope",
        ),
    ];
    for (i, (text, expect)) in cases.iter().enumerate() {
        let bad = write(&ns, &format!("bad{i}"), text);
        let out = ns.agent("apply", Some(&bad));
        let err = stderr(&out);
        assert!(!out.status.success(), "case {i} applied");
        assert!(err.contains(expect), "case {i}: {err}");
        assert!(
            err.contains(&format!("{bad}:")),
            "case {i} names no line: {err}"
        );
        assert_eq!(
            ns.nft("-a list ruleset"),
            before,
            "case {i} changed the ruleset"
        );
        let check = support::agent(&["check", &bad]);
        assert!(!check.status.success(), "check passed case {i}");
    }
}

#[test]
fn without_a_firewall_section_only_the_agents_table_goes() {
    let ns = Netns::new("fwdel");
    ns.nft("add table ip theirs");
    ns.nft("add chain ip theirs c { type filter hook input priority 10; }");
    let file = write(&ns, "cfg", CONFIG);
    let out = ns.agent("apply", Some(&file));
    assert!(out.status.success(), "{}", stderr(&out));
    let none = write(&ns, "none", "version = 1\n");
    let out = ns.agent("apply", Some(&none));
    assert!(out.status.success(), "{}", stderr(&out));
    let tables = ns.nft("list tables");
    assert!(!tables.contains("router_agent"), "{tables}");
    assert!(tables.contains("table ip theirs"), "{tables}");
    assert!(
        tables.contains("table inet keepme"),
        "a kept table is not deleted when the config stops keeping it: {tables}"
    );
}

/// The text transaction and the `nftables` crate's JSON of the same compiled firewall make
/// the same ruleset: the text writer says what the schema says.
#[test]
fn the_text_transaction_matches_the_schema_json() {
    use router_agent::firewall::{compile::compile, script::transaction};
    let raw_start = CONFIG.find("raw = \"\"\"").expect("raw block");
    let raw_end = CONFIG[raw_start + 7..].find("\"\"\"").expect("end of raw") + raw_start + 10;
    let without_block = format!("{}{}", &CONFIG[..raw_start], &CONFIG[raw_end..]);
    let no_raw: String = without_block
        .split("[[firewall.table]]")
        .next()
        .unwrap_or_default()
        .replace(
            "raw = \"meta mark 0x00000001 counter accept\"",
            "action = \"accept\"",
        );
    let fw = router_agent::model::load("t.toml", &no_raw)
        .unwrap_or_else(|e| panic!("{e}"))
        .firewall
        .expect("firewall");
    let compiled = compile(&fw);
    let text = transaction(Some(&compiled), false, &[]).expect("text");
    let a = Netns::new("fwtext");
    let b = Netns::new("fwjson");
    let ta = write(&a, "nft", &text.text);
    let tb = std::env::temp_dir().join(format!("{}.json", b.name));
    std::fs::write(&tb, compiled.to_json()).expect("write json");
    run("ip", &["netns", "exec", &a.name, "nft", "-f", &ta]);
    run(
        "ip",
        &[
            "netns",
            "exec",
            &b.name,
            "nft",
            "-j",
            "-f",
            &tb.to_string_lossy(),
        ],
    );
    assert_eq!(a.ruleset(), b.ruleset());
}

#[test]
fn a_committed_transaction_is_told_by_its_marker_without_listing() {
    use router_agent::firewall::{Backend, NftBackend};
    let ns = Netns::new("fw-marker");
    let file = write(&ns, "marker", CONFIG);
    let out = ns.agent("apply", Some(&file));
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = ns.nft("list table inet router_agent");
    let marker = listing
        .split("gen=")
        .nth(1)
        .and_then(|t| t.get(..16))
        .unwrap_or_else(|| panic!("no marker in the table comment:\n{listing}"))
        .to_owned();
    let (ours, other) = ns.inside(move || {
        let mut nft = NftBackend::default();
        (
            nft.committed(&marker).expect("netlink answer"),
            nft.committed("0123456789abcdef").expect("netlink answer"),
        )
    });
    assert!(ours, "the table's marker is found");
    assert!(!other, "another marker is not");
    ns.nft("delete table inet router_agent");
    let absent = ns.inside(|| NftBackend::default().committed("0123456789abcdef"));
    assert!(!absent.expect("an absent table is an answer, not an error"));
}

#[test]
fn a_read_is_reused_until_the_ruleset_generation_moves() {
    use router_agent::firewall::{Backend, NftBackend};
    let ns = Netns::new("fw-gen");
    let file = write(&ns, "gen", CONFIG);
    let out = ns.agent("apply", Some(&file));
    assert!(out.status.success(), "{}", stderr(&out));
    let (first, second, after_edit) = ns.inside(|| {
        let mut nft = NftBackend::default();
        let first = nft.read(&[]).expect("read");
        let second = nft.read(&[]).expect("cached read");
        let edit = std::process::Command::new("nft")
            .args([
                "add",
                "rule",
                "inet",
                "router_agent",
                "input",
                "tcp",
                "dport",
                "4444",
                "accept",
            ])
            .status()
            .expect("nft");
        assert!(edit.success());
        (first, second, nft.read(&[]).expect("read after the edit"))
    });
    assert_eq!(first, second);
    assert_ne!(
        first, after_edit,
        "a hand edit moves the generation and is read"
    );
    let text = format!("{:?}", after_edit.firewall);
    assert!(text.contains("4444"), "{text}");
}
