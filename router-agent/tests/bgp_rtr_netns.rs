//! RPKI origin validation against a live RTR cache: the route server (configured by
//! `router-agent apply --netns` with `[bgp.rpki] rtr`) gets its ROAs from StayRTR in its
//! namespace. An RPKI-invalid route is filtered with reason 13, a valid one passes; when
//! the cache's ROAs change, BIRD validates again and the route goes out.
//!
//! ```text
//!   c1 192.0.2.1 AS10001 ─┐
//!   c3 192.0.2.3 AS10003 ─┴─ br0 ─ 192.0.2.254 rs AS64500 ── StayRTR 127.0.0.1:3323
//! ```

mod support;

use support::bird::{wait_or, Bird, Lab, RS_IP};
use support::rtr::{Roa, Rtr};
use support::{stderr, stdout};

const PORT: u16 = 3323;

fn rs_config() -> String {
    format!(
        r#"version = 1

[[interface]]
name = "ixp0"
kind = "physical"
addresses = ["{RS_IP}/24"]

[bgp]
asn = 64500
router_id = "{RS_IP}"
route_server = true

[bgp.rpki]
rtr = [{{ address = "127.0.0.1", port = {PORT} }}]

[bgp.policy.default]
rpki = "reject-invalid"

[[bgp.peer]]
name = "c1"
address = "192.0.2.1"
asn = 10001

[[bgp.peer]]
name = "c2"
address = "192.0.2.2"
asn = 10003
"#
    )
}

const ROA: Roa = Roa {
    prefix: "185.3.0.0/16",
    max_length: 16,
    asn: 10003,
};

#[test]
fn routes_are_validated_against_an_rtr_cache() {
    let lab = Lab::new(2);
    let rtr = Rtr::start(&lab.rs, &lab.dir, PORT, &[ROA]);
    let rs = lab.start_rs();
    let file = lab.path("rs.toml");
    std::fs::write(&file, rs_config()).expect("write");
    let out = lab.agent("apply", Some(&file));
    assert!(
        out.status.success(),
        "apply: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let c1 = lab.start_client(1, 10001, "  route 185.1.0.0/24 blackhole;\n", "");
    // Valid (the ROA), invalid (longer than its max length), unknown (no ROA covers it).
    let _c2 = lab.start_client(
        2,
        10003,
        "  route 185.3.0.0/16 blackhole;\n  route 185.3.1.0/24 blackhole;\n  route 185.5.0.0/24 blackhole;\n",
        "",
    );
    let diag = |rs: &Bird| {
        format!(
            "rs:\n{}\n{}\nstayrtr log:\n{}",
            rs.birdc(&["show", "protocols", "all", "rtr1"]),
            rs.birdc(&["show", "route", "all"]),
            std::fs::read_to_string(lab.path("stayrtr.log")).unwrap_or_default()
        )
    };
    wait_or(
        "the RTR session and the routes",
        || diag(&rs),
        || {
            rs.birdc(&["show", "protocols", "rtr1"])
                .contains("Established")
                && c1.has_route("185.3.0.0/16")
                && c1.has_route("185.5.0.0/24")
                && rs.route("185.3.1.0/24").contains("(64500, 1000, 3)")
        },
    );
    let roas = rs.birdc(&["show", "route", "table", "rpki4"]);
    assert!(roas.contains("185.3.0.0/16-16 AS10003"), "{roas}");

    let valid = rs.route("185.3.0.0/16");
    assert!(valid.contains("(64500, 1000, 1)"), "valid:\n{valid}");
    assert!(!valid.contains("(64500, 1101,"), "valid:\n{valid}");
    let unknown = rs.route("185.5.0.0/24");
    assert!(unknown.contains("(64500, 1000, 2)"), "unknown:\n{unknown}");
    let invalid = rs.route("185.3.1.0/24");
    assert!(
        invalid.contains("(64500, 1101, 13)"),
        "invalid, filtered with reason 13:\n{invalid}"
    );
    assert!(
        !c1.has_route("185.3.1.0/24"),
        "an invalid route was sent on"
    );

    // The cache authorises the /24 too: BIRD validates again and sends it on.
    rtr.set(&[Roa {
        max_length: 24,
        ..ROA
    }]);
    wait_or(
        "the /24 to become valid and reach c1",
        || diag(&rs),
        || c1.has_route("185.3.1.0/24"),
    );
    let now = rs.route("185.3.1.0/24");
    assert!(
        now.contains("(64500, 1000, 1)") && !now.contains("(64500, 1101,"),
        "{now}"
    );
}
