//! Bad configs get precise errors: `file:line:col`, the path of the offending value, and
//! what was expected. One case a test, each checking the position and the key words.

#[path = "support/load_errors.rs"]
mod load_errors;
use load_errors::{check, error};

const ETH0: &str = "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\naddresses = [\"192.0.2.2/24\"]\n";

fn with_eth0(more: &str) -> String {
    format!("{ETH0}{more}")
}

#[test]
fn toml_syntax_error() {
    check(
        "version = 1\n[[interface]\nname = \"eth0\"\n",
        "2:12",
        &["invalid table header", "expected"],
    );
}

#[test]
fn version_2_is_refused() {
    check(
        "version = 2\n",
        "1:11",
        &["version 2 is not supported", "version = 1"],
    );
}

#[test]
fn missing_version() {
    check("hostname = \"r1\"\n", "1:1", &["version"]);
}

#[test]
fn unknown_top_level_key() {
    check(
        "version = 1\nhostnme = \"r1\"\n",
        "2:1",
        &["unknown field `hostnme`", "hostname"],
    );
}

#[test]
fn unknown_interface_key() {
    let text = with_eth0("\n[[interface]]\nname = \"br0\"\nkind = \"bridge\"\nstp = true\n");
    check(&text, "11:1", &["unknown field `stp`", "bridge"]);
}

#[test]
fn unknown_interface_kind() {
    let text = "version = 1\n\n[[interface]]\nname = \"vx0\"\nkind = \"vxlan\"\n";
    check(text, "5:8", &["unknown variant `vxlan`", "wireguard"]);
}

#[test]
fn lacp_rate_outside_802_3ad() {
    let text = "version = 1\n\n[[interface]]\nname = \"bond0\"\nkind = \"bond\"\nbond = { mode = \"active-backup\", lacp_rate = \"slow\" }\n";
    check(
        text,
        "6:46",
        &["lacp_rate applies to mode = \"802.3ad\" only"],
    );
}

#[test]
fn wireguard_key_not_base64_of_32_bytes() {
    let text = "version = 1\n\n[[interface]]\nname = \"wg0\"\nkind = \"wireguard\"\nwireguard = { private_key = \"c2hvcnQ=\" }\n";
    check(
        text,
        "6:29",
        &[
            "not a WireGuard private or preshared key",
            "32 bytes in base64",
        ],
    );
}

#[test]
fn bad_address_prefix() {
    let text = "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\naddresses = [\"192.0.2.300/24\"]\n";
    check(text, "6:14", &["invalid IP address syntax"]);
}

#[test]
fn bad_prefix_in_prefix_block() {
    let text = "version = 1\n\n[[route]]\ntype = \"blackhole\"\nprefixes = \"\"\"\n10.0.0.0/8\n10.0.0.0/33\n\"\"\"\n";
    check(text, "5:12", &["prefix #2", "10.0.0.0/33", "192.0.2.0/24"]);
}

#[test]
fn host_bits_set() {
    let text = with_eth0("\n[[route]]\nto = \"10.1.2.3/8\"\nvia = \"192.0.2.1\"\n");
    check(
        &text,
        "9:6",
        &["route[0].to", "host bits set", "10.0.0.0/8"],
    );
}

#[test]
fn vlan_id_0() {
    let text = with_eth0(
        "\n[[interface]]\nname = \"v0\"\nkind = \"vlan\"\nvlan = { parent = \"eth0\", id = 0 }\n",
    );
    check(&text, "11:32", &["VLAN id 0 is out of range", "1..=4094"]);
}

#[test]
fn vlan_id_4095() {
    let text = with_eth0("\n[[interface]]\nname = \"v0\"\nkind = \"vlan\"\nvlan = { parent = \"eth0\", id = 4095 }\n");
    check(
        &text,
        "11:32",
        &["VLAN id 4095 is out of range", "1..=4094"],
    );
}

#[test]
fn mtu_too_small() {
    let text = "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\nmtu = 67\n";
    check(text, "6:7", &["MTU 67 is out of range", "68..=65536"]);
}

#[test]
fn mtu_too_large() {
    let text = "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\nmtu = 70000\n";
    check(text, "6:7", &["MTU 70000 is out of range"]);
}

#[test]
fn vlan_mtu_above_parent() {
    let text = "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\nmtu = 1500\n\n[[interface]]\nname = \"v9\"\nkind = \"vlan\"\nmtu = 9000\nvlan = { parent = \"eth0\", id = 9 }\n";
    check(
        text,
        "11:7",
        &[
            "interface[1].mtu",
            "MTU 9000 is larger than the MTU 1500 of parent eth0",
        ],
    );
}

#[test]
fn bad_mac() {
    let text = "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\nmac = \"52:54:00:12:34\"\n";
    check(text, "6:7", &["not a MAC address", "52:54:00:12:34:56"]);
}

#[test]
fn multicast_mac() {
    let text = "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\nmac = \"01:00:5e:00:00:01\"\n";
    check(text, "6:7", &["interface[0].mac", "not a unicast MAC"]);
}

#[test]
fn interface_name_too_long() {
    let text = "version = 1\n\n[[interface]]\nname = \"a-very-long-name0\"\nkind = \"dummy\"\n";
    check(text, "4:8", &["1 to 15 bytes"]);
}

#[test]
fn unknown_vlan_parent() {
    let text = with_eth0(
        "\n[[interface]]\nname = \"v5\"\nkind = \"vlan\"\nvlan = { parent = \"eth9\", id = 5 }\n",
    );
    check(
        &text,
        "11:19",
        &["interface[1].vlan.parent", "unknown parent interface eth9"],
    );
}

#[test]
fn unknown_bridge_port() {
    let text = "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\n\n[[interface]]\nname = \"br0\"\nkind = \"bridge\"\nbridge = { ports = [\"eth0\", \"eth7\"] }\n";
    check(
        text,
        "10:29",
        &["interface[1].bridge.ports[1]", "unknown interface eth7"],
    );
}

#[test]
fn port_with_addresses() {
    let text = with_eth0(
        "\n[[interface]]\nname = \"br0\"\nkind = \"bridge\"\nbridge = { ports = [\"eth0\"] }\n",
    );
    check(
        &text,
        "11:21",
        &["eth0 has addresses", "put the addresses on br0"],
    );
}

#[test]
fn member_of_two_masters() {
    let text = "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\n\n[[interface]]\nname = \"br0\"\nkind = \"bridge\"\nbridge = { ports = [\"eth0\"] }\n\n[[interface]]\nname = \"bond0\"\nkind = \"bond\"\nbond = { mode = \"802.3ad\", members = [\"eth0\"] }\n";
    check(
        text,
        "15:39",
        &[
            "interface[2].bond.members[0]",
            "eth0 is already a member of br0",
        ],
    );
}

#[test]
fn duplicate_interface_name() {
    let text = with_eth0("\n[[interface]]\nname = \"eth0\"\nkind = \"dummy\"\n");
    check(
        &text,
        "9:8",
        &["interface[1].name", "interface eth0 is declared twice"],
    );
}

#[test]
fn duplicate_address_on_two_links() {
    let text = with_eth0(
        "\n[[interface]]\nname = \"d0\"\nkind = \"dummy\"\naddresses = [\"192.0.2.2/32\"]\n",
    );
    check(
        &text,
        "11:14",
        &[
            "interface[1].addresses[0]",
            "address 192.0.2.2 is already on eth0",
        ],
    );
}

#[test]
fn duplicate_address_on_one_link() {
    let text = "version = 1\n\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\naddresses = [\"192.0.2.2/24\", \"192.0.2.2/25\"]\n";
    check(text, "6:30", &["interface[0].addresses[1]", "listed twice"]);
}

#[test]
fn gateway_not_on_link() {
    let text =
        with_eth0("\n[[route]]\nto = \"10.0.0.0/8\"\nvia = \"198.51.100.1\"\ndev = \"eth0\"\n");
    check(
        &text,
        "10:7",
        &[
            "route[0].via",
            "gateway 198.51.100.1 is not on a connected prefix of eth0",
            "onlink",
        ],
    );
}

#[test]
fn dependency_cycle() {
    let text = with_eth0("\n[[interface]]\nname = \"a\"\nkind = \"vlan\"\nvlan = { parent = \"b\", id = 1 }\n\n[[interface]]\nname = \"b\"\nkind = \"vlan\"\nvlan = { parent = \"a\", id = 2 }\n");
    check(
        &text,
        "8:1",
        &["interface[1]", "dependency cycle: a -> b -> a"],
    );
}

#[test]
fn conflicting_route_keys() {
    let text = with_eth0("\n[[route]]\nto = \"10.0.0.0/8\"\nvia = \"192.0.2.1\"\n\n[[route]]\ntype = \"blackhole\"\nprefixes = [\"172.16.0.0/12\", \"10.0.0.0/8\"]\n");
    check(
        &text,
        "14:12",
        &[
            "route[1].prefixes",
            "route to 10.0.0.0/8 (table 254, metric 0) is already defined by route[0]",
        ],
    );
}

#[test]
fn route_with_to_and_prefixes() {
    let text = "version = 1\n\n[[route]]\ntype = \"blackhole\"\nto = \"10.0.0.0/8\"\nprefixes = [\"10.1.0.0/16\"]\n";
    check(text, "3:1", &["route[0]", "either `to`", "not both"]);
}

#[test]
fn blackhole_with_gateway() {
    let text =
        with_eth0("\n[[route]]\ntype = \"blackhole\"\nto = \"10.0.0.0/8\"\nvia = \"192.0.2.1\"\n");
    check(
        &text,
        "8:1",
        &["route[0]", "a blackhole route takes no via"],
    );
}

#[test]
fn nexthop_weight_0() {
    let text = with_eth0(
        "\n[[route]]\nto = \"10.0.0.0/8\"\nnexthops = [{ via = \"192.0.2.1\", weight = 0 }]\n",
    );
    check(
        &text,
        "10:43",
        &["next-hop weight 0 is out of range", "1..=256"],
    );
}

#[test]
fn mixed_families_in_route() {
    let text = with_eth0("\n[[route]]\nto = \"2001:db8::/32\"\nvia = \"192.0.2.1\"\n");
    check(&text, "9:6", &["route[0].to", "not of the same family"]);
}

#[test]
fn unknown_table_name() {
    let text =
        with_eth0("\n[[route]]\nto = \"10.0.0.0/8\"\nvia = \"192.0.2.1\"\ntable = \"isp3\"\n");
    check(
        &text,
        "11:9",
        &["route[0].table", "unknown table \"isp3\"", "[tables]"],
    );
}

#[test]
fn reserved_table_number() {
    check(
        "version = 1\n\n[tables]\nmine = 254\n",
        "4:8",
        &["tables.mine", "table 254 is reserved"],
    );
}

#[test]
fn vrf_on_main_table() {
    let text = "version = 1\n\n[[interface]]\nname = \"vrf1\"\nkind = \"vrf\"\nvrf = { table = \"main\" }\n";
    check(
        text,
        "6:17",
        &["interface[0].vrf.table", "a VRF needs a table of its own"],
    );
}

#[test]
fn options_for_another_kind() {
    let text = with_eth0("\n[[interface]]\nname = \"br0\"\nkind = \"bridge\"\nvlan = { parent = \"eth0\", id = 5 }\n");
    check(
        &text,
        "11:8",
        &[
            "interface[1].vlan",
            "`vlan` options given",
            "kind = \"bridge\"",
        ],
    );
}

#[test]
fn vlan_without_options() {
    let text = with_eth0("\n[[interface]]\nname = \"v5\"\nkind = \"vlan\"\n");
    check(
        &text,
        "8:1",
        &["interface[1]", "needs its options", "vlan = { parent"],
    );
}

#[test]
fn veth_peer_missing() {
    let text = "version = 1\n\n[[interface]]\nname = \"ve0\"\nkind = \"veth\"\nveth = { peer = \"ve1\" }\n";
    check(
        text,
        "6:17",
        &["interface[0].veth.peer", "peer ve1 must also be declared"],
    );
}

#[test]
fn sysctl_outside_net() {
    let text = "version = 1\n\n[sysctl.other]\n\"kernel.panic\" = \"10\"\n";
    check(
        text,
        "4:1",
        &["\"kernel.panic\" is not a network sysctl", "net."],
    );
}

#[test]
fn bad_rp_filter() {
    check(
        "version = 1\n\n[sysctl]\nrp_filter = \"medium\"\n",
        "4:13",
        &["unknown variant `medium`", "loose"],
    );
}

#[test]
fn rule_without_family() {
    let text = "version = 1\n\n[[rule]]\npriority = 10\nfwmark = 1\ntable = 100\n";
    check(text, "3:1", &["rule[0]", "family = \"ipv4\""]);
}

#[test]
fn rule_bad_fwmark() {
    let text = "version = 1\n\n[[rule]]\npriority = 10\nfamily = \"ipv4\"\nfwmark = \"0x1/0xzz\"\ntable = 100\n";
    check(text, "6:10", &["not a fwmark", "0xVALUE/0xMASK"]);
}

#[test]
fn rule_unknown_iif() {
    let text = "version = 1\n\n[[rule]]\npriority = 10\nfrom = \"10.0.0.0/8\"\niif = \"eth3\"\ntable = 100\n";
    check(text, "6:7", &["rule[0].iif", "unknown interface eth3"]);
}

#[test]
fn bad_hostname() {
    check(
        "version = 1\nhostname = \"-router_1\"\n",
        "2:12",
        &["hostname", "is not a hostname"],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = with_eth0("\n[[interface]]\nname = \"v5\"\nkind = \"vlan\"\nvlan = { parent = \"eth9\", id = 5 }\n\n[[route]]\nto = \"10.1.2.3/8\"\nvia = \"192.0.2.1\"\n");
    let e = error(&text);
    assert_eq!(e.lines().count(), 2, "{e}");
    assert!(e.lines().all(|l| l.starts_with("x.toml:")), "{e}");
}

const BGP: &str = "version = 1\n\n[bgp]\nasn = 64500\nrouter_id = \"192.0.2.254\"\n";

#[test]
fn bgp_raw_cannot_include_files() {
    let text =
        format!("{BGP}raw = \"\"\"\nprotocol device {{}}\ninclude \"/etc/shadow\";\n\"\"\"\n");
    check(
        &text,
        "6:7",
        &["bgp.raw", "line 2, column 1 of the raw text", "include"],
    );
}

#[test]
fn bgp_raw_cannot_close_a_block_it_did_not_open() {
    let text = format!("{BGP}raw = \"}}\\nprotocol static evil {{ ipv4; }}\"\n");
    check(&text, "6:7", &["bgp.raw", "did not open"]);
}

#[test]
fn firewall_raw_text_is_confined_with_its_position() {
    let text = "version = 1\n\n[firewall]\nraw = \"\"\"\nchain c {\n}\n}\nflush ruleset\n\"\"\"\n";
    check(
        text,
        "4:7",
        &[
            "firewall.raw",
            "line 3, column 1",
            "close the agent's table",
        ],
    );
}

#[test]
fn logging_collector_without_port() {
    let text = "version = 1\n\n[logging]\ncollector = \"192.0.2.1\"\n";
    check(text, "4:13", &["HOST:PORT", "192.0.2.1"]);
}

#[test]
fn logging_unknown_transport() {
    let text = "version = 1\n\n[logging]\ncollector = \"192.0.2.1:514\"\ntransport = \"tls\"\n";
    check(text, "5:13", &["unknown variant `tls`", "tcp", "udp"]);
}

#[test]
fn logging_unknown_key() {
    let text = "version = 1\n\n[logging]\ncollector = \"192.0.2.1:514\"\nformat = \"json\"\n";
    check(text, "5:1", &["unknown field `format`", "transport"]);
}
