//! The route server's safety at an internet exchange (issue 16), each with real BIRD
//! processes in namespaces: the route server from `router-agent apply --netns`, members
//! with hand-written BIRD configs on one peering LAN (192.0.2.0/24, 2001:db8:7e::/64).
//!
//! - export control reaches members with 32-bit ASNs;
//! - BLACKHOLE only within the member's own space and lengths, never the default route;
//! - the next hop of IPv4 routes learned over IPv6 sessions (RFC 8950) is checked;
//! - `rpki = "tag"` sends no RPKI-invalid route to any member;
//! - NO_EXPORT from a member is passed on (it is for the receiving member);
//! - leaks: transit-free and never-via-route-servers ASNs in a member's path.
//!
//! Timeouts only bound waits for BGP to converge; nothing asserts on elapsed time.

mod support;

use support::bird::{wait_or, Bird, Lab, RS_IP};

const RS_IP6: &str = "2001:db8:7e::fe";

/// A peer of the route server: name, address, ASN, more TOML lines.
struct P(&'static str, &'static str, u32, &'static str);

fn rs_toml(top: &str, policy: &str, peers: &[P]) -> String {
    let mut c = format!(
        r#"version = 1

[[interface]]
name = "ixp0"
kind = "physical"
addresses = ["{RS_IP}/24", "{RS_IP6}/64"]

[bgp]
asn = 64500
router_id = "{RS_IP}"
route_server = true
{top}
[bgp.policy.default]
{policy}
"#
    );
    for P(name, addr, asn, more) in peers {
        c.push_str(&format!(
            "\n[[bgp.peer]]\nname = \"{name}\"\naddress = \"{addr}\"\nasn = {asn}\n{more}\n"
        ));
    }
    c
}

/// What the route server and the clients hold, for a wait that timed out.
fn diag<'a>(lab: &'a Lab, rs: &'a Bird, clients: &'a [&'a Bird]) -> impl Fn() -> String + 'a {
    move || {
        let mut s = format!("rs:\n{}", rs.birdc(&["show", "route", "all"]));
        for (i, c) in clients.iter().enumerate() {
            s.push_str(&format!(
                "\nclient {}:\n{}",
                i + 1,
                c.birdc(&["show", "route"])
            ));
        }
        s + "\nrs log:\n" + &std::fs::read_to_string(lab.path("rs.log")).unwrap_or_default()
    }
}

/// `show route for PREFIX all` on the route server carries reason WHY.
fn filtered(rs: &Bird, prefix: &str, why: u32) {
    let r = rs.route(prefix);
    assert!(
        r.contains(&format!("(64500, 1101, {why})")),
        "{prefix} on the route server, expected reason {why}:\n{r}"
    );
}

#[test]
fn export_control_reaches_32bit_members() {
    let lab = Lab::new(4);
    let rs = lab.start_rs();
    lab.apply_rs(
        &rs_toml(
            "",
            "",
            &[
                P("c1", "192.0.2.1", 10001, ""),
                P("c2", "192.0.2.2", 4_200_000_002, ""),
                P("c3", "192.0.2.3", 10003, ""),
                P("c4", "192.0.2.4", 4_200_000_004, ""),
            ],
        ),
        &[],
    );
    let c1 = lab.start_client(
        1,
        10001,
        "  route 185.1.0.0/24 blackhole { bgp_community.add((0, 64500)); };
  route 185.1.1.0/24 blackhole { bgp_community.add((0, 64500)); bgp_large_community.add((64500, 1, 4200000002)); };
  route 185.1.2.0/24 blackhole { bgp_large_community.add((64500, 0, 4200000004)); };
  route 185.1.3.0/24 blackhole { bgp_community.add((0, 10003)); };
  route 185.1.4.0/24 blackhole { bgp_community.add((0, 64500)); bgp_community.add((64500, 10003)); };
  route 185.1.9.0/24 blackhole;
",
        "",
    );
    let c2 = lab.start_client(2, 4_200_000_002, "", "");
    let c3 = lab.start_client(3, 10003, "", "");
    let c4 = lab.start_client(4, 4_200_000_004, "", "");
    let all = [&c1, &c2, &c3, &c4];
    // prefix, then whether c2, c3, c4 get it.
    let expect = [
        ("185.1.0.0/24", [false, false, false]),
        ("185.1.1.0/24", [true, false, false]),
        ("185.1.2.0/24", [true, true, false]),
        ("185.1.3.0/24", [true, false, true]),
        ("185.1.4.0/24", [false, true, false]),
        ("185.1.9.0/24", [true, true, true]),
    ];
    // Converged: what is expected is there (the absent ones are checked after).
    wait_or("the expected routes", diag(&lab, &rs, &all), || {
        expect.iter().all(|(p, to)| {
            [&c2, &c3, &c4]
                .iter()
                .zip(to)
                .all(|(c, &t)| !t || c.has_route(p))
        })
    });
    for (p, to) in expect {
        for (c, (t, name)) in [&c2, &c3, &c4]
            .iter()
            .zip(to.iter().zip(["c2", "c3", "c4"]))
        {
            assert_eq!(c.has_route(p), *t, "{p} to {name}");
        }
    }
    // The control communities go no further.
    for (c, p) in [(&c2, "185.1.1.0/24"), (&c3, "185.1.4.0/24")] {
        let r = c.learned(p);
        assert!(
            !r.contains("(64500, 1,") && !r.contains("(0,64500)") && !r.contains("(64500,"),
            "{r}"
        );
    }
}

/// A 32-bit member given a 16-bit alias: standard communities name it by the alias.
#[test]
fn standard_communities_name_32bit_members_by_alias() {
    let lab = Lab::new(3);
    let rs = lab.start_rs();
    lab.apply_rs(
        &rs_toml(
            "",
            "",
            &[
                P("c1", "192.0.2.1", 10001, ""),
                P("c2", "192.0.2.2", 4_200_000_002, "community_alias = 64602"),
                P("c3", "192.0.2.3", 4_200_000_003, ""),
            ],
        ),
        &[],
    );
    let c1 = lab.start_client(
        1,
        10001,
        "  route 185.1.0.0/24 blackhole { bgp_community.add((0, 64602)); };
  route 185.1.1.0/24 blackhole { bgp_community.add((0, 64500)); bgp_community.add((64500, 64602)); };
  route 185.1.9.0/24 blackhole;
",
        "",
    );
    let c2 = lab.start_client(2, 4_200_000_002, "", "");
    let c3 = lab.start_client(3, 4_200_000_003, "", "");
    let all = [&c1, &c2, &c3];
    wait_or(
        "c2 and c3 to learn c1's routes",
        diag(&lab, &rs, &all),
        || {
            c2.has_route("185.1.9.0/24")
                && c2.has_route("185.1.1.0/24")
                && c3.has_route("185.1.0.0/24")
        },
    );
    assert!(!c2.has_route("185.1.0.0/24"), "0:64602 is not to c2");
    assert!(
        !c3.has_route("185.1.1.0/24"),
        "0:64500 64500:64602 is to c2 only"
    );
    assert!(!c2.learned("185.1.1.0/24").contains("(64500,"));
}

#[test]
fn blackhole_only_within_own_space() {
    let lab = Lab::new(3);
    let rs = lab.start_rs();
    lab.apply_rs(
        &rs_toml(
            "\n[bgp.blackhole]\nnext_hop_v4 = \"192.0.2.66\"\n",
            "blackhole = true",
            &[
                // No lists: may blackhole nothing.
                P("c1", "192.0.2.1", 10001, ""),
                P(
                    "c2",
                    "192.0.2.2",
                    10002,
                    "allowed_prefixes = \"185.2.0.0/16{16,24}\"",
                ),
                P("c3", "192.0.2.3", 10003, ""),
            ],
        ),
        &[],
    );
    let bh = "bgp_community.add((65535, 666));";
    let c1 = lab.start_client(
        1,
        10001,
        &format!(
            "  route 0.0.0.0/0 blackhole {{ {bh} }};
  route 185.2.0.1/32 blackhole {{ {bh} }};
  route 185.1.0.1/32 blackhole {{ {bh} }};
  route 185.1.0.0/24 blackhole;
"
        ),
        "",
    );
    let c2 = lab.start_client(
        2,
        10002,
        &format!(
            "  route 0.0.0.0/0 blackhole;
  route 185.2.0.1/32 blackhole {{ {bh} }};
  route 185.2.0.0/20 blackhole {{ {bh} }};
  route 185.3.0.1/32 blackhole {{ {bh} }};
  route 185.2.0.0/24 blackhole;
"
        ),
        "",
    );
    let c3 = lab.start_client(3, 10003, "", "");
    let all = [&c1, &c2, &c3];
    wait_or("c3 to learn the routes", diag(&lab, &rs, &all), || {
        c3.has_route("185.1.0.0/24") && c3.has_route("185.2.0.0/24") && c3.has_route("185.2.0.1/32")
    });
    // c2's blackhole of its own /32 goes on, rewritten; c1's of the same /32 does not.
    let r = c3.learned("185.2.0.1/32");
    assert!(r.contains("BGP.next_hop: 192.0.2.66"), "{r}");
    assert!(r.contains("BGP.as_path: 10002\n"), "{r}");
    assert!(
        !r.contains("BGP.as_path: 10001"),
        "c1 blackholed c2's address:\n{r}"
    );
    // Filtered on the route server: reason 1 (length) or 8 (not the member's space).
    for (prefix, why) in [
        ("0.0.0.0/0", 1),
        ("185.1.0.1/32", 8),
        ("185.2.0.0/20", 1),
        ("185.3.0.1/32", 8),
    ] {
        filtered(&rs, prefix, why);
        assert!(!c3.has_route(prefix), "{prefix} was sent on");
    }
    let r = rs.route_from("185.2.0.1/32", &["protocol", "p_c1"]);
    assert!(r.contains("(64500, 1101, 8)"), "{r}");
}

/// A member on an IPv6-only session carrying IPv4 (RFC 8950 extended next hop).
fn v6_client(lab: &Lab, i: usize, asn: u32, statics: &str, export: &str) -> Bird {
    let ns = &lab.clients[i - 1];
    ns.ip(&[
        "addr",
        "add",
        &format!("2001:db8:7e::{i}/64"),
        "dev",
        "ixp0",
        "nodad",
    ]);
    lab.start_client_text(
        i,
        &format!(
            "router id 192.0.2.{i};
protocol device {{}}
protocol direct {{ ipv4; ipv6; interface \"ixp0\"; }}
protocol static s4 {{
  ipv4;
{statics}}}
protocol bgp to_rs {{
  local 2001:db8:7e::{i} as {asn};
  neighbor {RS_IP6} as 64500;
  ipv4 {{
    extended next hop on;
    import all;
    export filter {{
      if source != RTS_STATIC then reject;
{export}      accept;
    }};
  }};
}}
"
        ),
    )
}

#[test]
fn next_hop_checked_for_ipv4_over_ipv6() {
    let lab = Lab::new(3);
    let rs = lab.start_rs();
    let v4 = "families = [\"ipv4\"]";
    lab.apply_rs(
        &rs_toml(
            "",
            "",
            &[
                P("c1", "2001:db8:7e::1", 10001, v4),
                P("c2", "2001:db8:7e::2", 10002, v4),
                P("c3", "2001:db8:7e::3", 10003, v4),
                // c3's IPv4 session (never up here): its address is c3's own next hop.
                P("c3_v4", "192.0.2.3", 10003, ""),
            ],
        ),
        &[],
    );
    let c1 = v6_client(
        &lab,
        1,
        10001,
        "  route 185.1.0.0/24 blackhole;
  route 185.1.1.0/24 blackhole;
  route 185.1.2.0/24 blackhole;
",
        "      if net = 185.1.1.0/24 then bgp_next_hop = 2001:db8:7e::2;
      if net = 185.1.2.0/24 then bgp_next_hop = 192.0.2.2;
",
    );
    let c2 = v6_client(&lab, 2, 10002, "", "");
    let c3 = v6_client(
        &lab,
        3,
        10003,
        "  route 185.3.0.0/24 blackhole;\n",
        "      bgp_next_hop = 192.0.2.3;\n",
    );
    let all = [&c1, &c2, &c3];
    wait_or(
        "c2 to learn c1's and c3's routes",
        diag(&lab, &rs, &all),
        || c2.has_route("185.1.0.0/24") && c2.has_route("185.3.0.0/24"),
    );
    let r = c2.learned("185.1.0.0/24");
    assert!(r.contains("BGP.next_hop: 2001:db8:7e::1"), "{r}");
    let r = c2.learned("185.3.0.0/24");
    assert!(r.contains("BGP.next_hop: 192.0.2.3"), "{r}");
    for p in ["185.1.1.0/24", "185.1.2.0/24"] {
        filtered(&rs, p, 7);
        for c in [&c2, &c3] {
            assert!(!c.has_route(p), "{p} was sent on");
        }
    }
}

#[test]
fn rpki_tag_sends_no_invalid_route() {
    let lab = Lab::new(2);
    let rs = lab.start_rs();
    lab.apply_rs(
        &rs_toml(
            "\n[bgp.rpki]\nroa = [{ prefix = \"185.3.0.0/16\", asn = 10003 }]\n",
            "rpki = \"tag\"",
            &[
                P("c1", "192.0.2.1", 10001, ""),
                P("c2", "192.0.2.2", 10002, ""),
            ],
        ),
        &[],
    );
    let c1 = lab.start_client(
        1,
        10001,
        // The route server's own informational communities, forged: scrubbed on import.
        "  route 185.1.0.0/24 blackhole { bgp_large_community.add((64500, 1101, 2)); };
  route 185.3.1.0/24 blackhole { bgp_large_community.add((64500, 1000, 1)); };
",
        "",
    );
    let c2 = lab.start_client(2, 10002, "", "");
    let all = [&c1, &c2];
    wait_or(
        "c2 to learn the RPKI-unknown route",
        diag(&lab, &rs, &all),
        || c2.has_route("185.1.0.0/24"),
    );
    wait_or(
        "the route server to learn the invalid one",
        diag(&lab, &rs, &all),
        || rs.route("185.3.1.0/24").contains("(64500, 1000, 3)"),
    );
    assert!(c2.learned("185.1.0.0/24").contains("(64500, 1000, 2)"));
    assert!(
        !c2.has_route("185.3.1.0/24"),
        "an RPKI-invalid route was sent on"
    );
}

#[test]
fn no_export_is_passed_on() {
    let lab = Lab::new(2);
    let rs = lab.start_rs();
    lab.apply_rs(
        &rs_toml(
            "",
            "",
            &[
                P("c1", "192.0.2.1", 10001, ""),
                P("c2", "192.0.2.2", 10002, ""),
            ],
        ),
        &[],
    );
    // Added in the export filter: BIRD's own NO_EXPORT check on c1 runs before it.
    let c1 = lab.start_client(
        1,
        10001,
        "  route 185.1.0.0/24 blackhole;\n  route 185.1.1.0/24 blackhole;\n  route 185.1.9.0/24 blackhole;\n",
        "      if net = 185.1.0.0/24 then bgp_community.add((65535, 65281));
      if net = 185.1.1.0/24 then bgp_community.add((65535, 65282));
",
    );
    let c2 = lab.start_client(2, 10002, "", "");
    let all = [&c1, &c2];
    wait_or("c2 to learn c1's routes", diag(&lab, &rs, &all), || {
        c2.has_route("185.1.9.0/24")
    });
    wait_or(
        "c2 to learn the NO_EXPORT route",
        diag(&lab, &rs, &all),
        || c2.has_route("185.1.0.0/24"),
    );
    let r = c2.learned("185.1.0.0/24");
    assert!(
        r.contains("(65535,65281)"),
        "NO_EXPORT is kept for c2:\n{r}"
    );
    // NO_ADVERTISE asks the route server itself not to advertise: it is honoured.
    assert!(rs.route("185.1.1.0/24").contains("(65535,65282)"));
    assert!(
        !c2.has_route("185.1.1.0/24"),
        "a NO_ADVERTISE route was sent on"
    );
}

#[test]
fn leaks_through_transit_free_and_never_via_rs_asns_are_filtered() {
    let lab = Lab::new(3);
    let rs = lab.start_rs();
    lab.apply_rs(
        &rs_toml(
            "",
            "never_via_rs_asns = [20940]",
            &[
                P("c1", "192.0.2.1", 10001, ""),
                // A transit-free network as a member: its own routes are fine.
                P("c2", "192.0.2.2", 3356, ""),
                P("c3", "192.0.2.3", 10003, ""),
            ],
        ),
        &[],
    );
    let c1 = lab.start_client(
        1,
        10001,
        "  route 185.1.0.0/24 blackhole;\n  route 185.1.1.0/24 blackhole;\n  route 185.1.9.0/24 blackhole;\n",
        "      if net = 185.1.0.0/24 then bgp_path.prepend(174);
      if net = 185.1.1.0/24 then bgp_path.prepend(20940);
",
    );
    let c2 = lab.start_client(
        2,
        3356,
        "  route 185.2.0.0/24 blackhole;\n  route 185.2.1.0/24 blackhole;\n",
        "      if net = 185.2.1.0/24 then bgp_path.prepend(174);\n",
    );
    let c3 = lab.start_client(3, 10003, "", "");
    let all = [&c1, &c2, &c3];
    wait_or(
        "c3 to learn the clean routes",
        diag(&lab, &rs, &all),
        || c3.has_route("185.1.9.0/24") && c3.has_route("185.2.0.0/24"),
    );
    for (prefix, why) in [
        ("185.1.0.0/24", 14),
        ("185.2.1.0/24", 14),
        ("185.1.1.0/24", 15),
    ] {
        filtered(&rs, prefix, why);
        assert!(!c3.has_route(prefix), "{prefix} was sent on");
    }
}
