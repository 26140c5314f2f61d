//! [`Bgp`] to the body of bird.conf (BIRD 2). Pure: the same model gives the same text,
//! so read-back can render again and compare.
//!
//! The policy follows what IXP route servers do (arouteserver, IXP Manager): every check
//! that fails tags the route with `(ASN, 1101, reason)` and gives it the lowest local
//! preference; tagged routes stay in the table (visible with `birdc show route all`)
//! and no export filter sends them on.

use std::fmt::Write;

use crate::model::bgp::{Bgp, Community, Peer, Policy, PrefixPattern, RpkiAction};
use crate::model::Family;

mod export;
mod filters;
use export::render_export_ok;
use filters::render_peer_filters;

/// Large-community reasons for filtered routes, `(ASN, 1101, reason)`, as IXP Manager
/// numbers them.
pub mod reason {
    pub const PREFIX_LENGTH: u32 = 1;
    pub const BOGON_PREFIX: u32 = 2;
    pub const BOGON_ASN: u32 = 3;
    pub const AS_PATH_LONG: u32 = 4;
    pub const FIRST_AS: u32 = 6;
    pub const NEXT_HOP: u32 = 7;
    pub const IRR_PREFIX: u32 = 8;
    pub const IRR_ORIGIN: u32 = 9;
    pub const RPKI_INVALID: u32 = 13;
    pub const TRANSIT_FREE: u32 = 14;
    pub const NEVER_VIA_RS: u32 = 15;
}
/// `(ASN, 1101, reason)`: why a route was filtered.
pub const FILTERED: u32 = 1101;
/// `(ASN, 1000, 1|2|3)`: RPKI valid, unknown, invalid.
pub const RPKI_INFO: u32 = 1000;
/// Seconds between attempts to reach an RTR cache that did not answer.
const RTR_RETRY: u32 = 30;

const BOGONS_V4: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
];
const BOGONS_V6: &[&str] = &[
    "::/8",
    "100::/64",
    "2001:2::/48",
    "2001:10::/28",
    "2001:db8::/32",
    "2002::/16",
    "3ffe::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];
/// Reserved, documentation and private ASNs (RFC 7607, 6793, 5398, 6996, 7300).
const BOGON_ASNS: &str = "0, 23456, 64496..131071, 4200000000..4294967295";

fn fam(f: Family) -> (&'static str, char) {
    match f {
        Family::Ipv4 => ("ipv4", '4'),
        Family::Ipv6 => ("ipv6", '6'),
    }
}

/// `a, b, c` wrapped so that no line of a large set grows without bound.
fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>, indent: &str) -> String {
    let mut out = String::new();
    for (i, it) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
            out.push(if i % 8 == 0 { '\n' } else { ' ' });
            if i % 8 == 0 {
                out.push_str(indent);
            }
        }
        let _ = write!(out, "{it}");
    }
    out
}

fn pattern(p: &PrefixPattern) -> String {
    let len = p.net.prefix_len();
    if p.min == len && p.max == len {
        p.net.to_string()
    } else {
        format!("{}{{{},{}}}", p.net, p.min, p.max)
    }
}

/// The body of bird.conf for `bgp`.
pub fn render(bgp: &Bgp) -> String {
    let mut o = String::with_capacity(4096 + bgp.peers.len() * 1500);
    let a = bgp.asn.get();
    let _ = writeln!(o, "router id {};", bgp.router_id);
    o.push_str("timeformat protocol iso long;\n\n");
    o.push_str("protocol device {\n}\n\n");
    // Sorted tables let `secondary` export the best route a client's filter accepts.
    // (BIRD refuses them for recursive next hops: iBGP and multihop sessions.)
    if bgp.peers.iter().any(|p| p.rs_client) {
        o.push_str("ipv4 table master4 sorted;\nipv6 table master6 sorted;\n\n");
    }
    render_rpki(&mut o, bgp);
    render_common(&mut o, bgp);
    for (name, p) in &bgp.policies {
        for f in [Family::Ipv4, Family::Ipv6] {
            render_policy(&mut o, bgp, name.as_str(), p, f);
        }
    }
    render_announces(&mut o, bgp);
    if bgp.install_routes {
        for f in [Family::Ipv4, Family::Ipv6] {
            let (n, d) = fam(f);
            let _ = writeln!(
                o,
                "protocol kernel kernel{d} {{\n  {n} {{ export where source = RTS_BGP && !(bgp_large_community ~ [({a}, {FILTERED}, *)]); }};\n}}\n"
            );
        }
    }
    for p in &bgp.peers {
        render_peer(&mut o, bgp, p);
    }
    o
}

fn render_rpki(o: &mut String, bgp: &Bgp) {
    if !bgp.uses_rpki() {
        return;
    }
    o.push_str("roa4 table rpki4;\nroa6 table rpki6;\n\n");
    for f in [Family::Ipv4, Family::Ipv6] {
        let (_, d) = fam(f);
        let roas: Vec<_> = bgp
            .roas
            .iter()
            .filter(|r| Family::of(&r.prefix) == f)
            .collect();
        let _ = writeln!(
            o,
            "protocol static roa{d}_static {{\n  roa{d} {{ table rpki{d}; }};"
        );
        for r in roas {
            let _ = writeln!(o, "  route {} max {} as {};", r.prefix, r.max_length, r.asn);
        }
        o.push_str("}\n\n");
    }
    // A cache that is down when BIRD first asks would otherwise be asked again only after
    // the retry interval the cache never got to send (600 s by default).
    for (i, (addr, port)) in bgp.rtr.iter().enumerate() {
        let _ = writeln!(
            o,
            "protocol rpki rtr{} {{\n  roa4 {{ table rpki4; }};\n  roa6 {{ table rpki6; }};\n  remote {addr} port {port};\n  retry keep {RTR_RETRY};\n}}\n",
            i + 1
        );
    }
}

/// Functions every policy uses.
fn render_common(o: &mut String, bgp: &Bgp) {
    let a = bgp.asn.get();
    let _ = writeln!(
        o,
        "define BOGONS_V4 = [ {} ];",
        list(BOGONS_V4.iter().map(|b| format!("{b}+")), "  ")
    );
    let _ = writeln!(
        o,
        "define BOGONS_V6 = [ {} ];",
        list(BOGONS_V6.iter().map(|b| format!("{b}+")), "  ")
    );
    let _ = writeln!(o, "define BOGON_ASNS = [ {BOGON_ASNS} ];\n");
    let _ = writeln!(
        o,
        "# Marks a route as filtered: kept in the table, never exported, never preferred.
function rs_reject(int why) {{
  bgp_large_community.add(({a}, {FILTERED}, why));
  bgp_local_pref = 0;
}}

function rs_rejected() {{
  return bgp_large_community ~ [({a}, {FILTERED}, *)];
}}
"
    );
    let gs = Community::GRACEFUL_SHUTDOWN;
    let bh = Community::BLACKHOLE;
    let bh_pair = format!("{},{}", bh.0, bh.1);
    render_export_ok(o, bgp);
    let _ = writeln!(
        o,
        "function export_clean() {{
  bgp_large_community.delete([({a}, 0, *), ({a}, 1, *)]);
  bgp_community.delete([(0, *){std}]);
  # RFC 7999: blackholes go no further than the clients.
  if ({bh}) ~ bgp_community then {{{bh4}{bh6}
    bgp_community.add((65535,65281));
  }}{gsadd}
}}
",
        bh = bh_pair,
        std = if bgp.asn.is_16bit() {
            format!(", ({a}, *)")
        } else {
            String::new()
        },
        bh4 = bgp.blackhole_v4.map_or(String::new(), |n| format!(
            "\n    if net.type = NET_IP4 then bgp_next_hop = {n};"
        )),
        bh6 = bgp.blackhole_v6.map_or(String::new(), |n| format!(
            "\n    if net.type = NET_IP6 then bgp_next_hop = {n};"
        )),
        gsadd = if bgp.graceful_shutdown {
            format!("\n  bgp_community.add(({},{}));", gs.0, gs.1)
        } else {
            String::new()
        },
    );
}

/// One policy's checks for one family, as a function of the peer: true when the route
/// passed them all. The peer's own lists (IRR) are checked after it, in its filter.
fn render_policy(o: &mut String, bgp: &Bgp, name: &str, p: &Policy, f: Family) {
    let a = bgp.asn.get();
    let (_, d) = fam(f);
    let (min, max) = match f {
        Family::Ipv4 => p.length_v4,
        Family::Ipv6 => p.length_v6,
    };
    let gs = Community::GRACEFUL_SHUTDOWN;
    // Sets for the clients' filters (see render_peer_filters), once per policy.
    if f == Family::Ipv4 {
        for (set, l) in [
            ("TRANSIT_FREE", &p.transit_free_asns),
            ("NEVER_VIA_RS", &p.never_via_rs_asns),
        ] {
            if !l.is_empty() {
                let _ = writeln!(o, "define {set}_{name} = [ {} ];\n", list(l, "  "));
            }
        }
    }
    let _ = writeln!(
        o,
        "function policy_{name}_{d}(int peer_as; ip peer_ip; bool nh; bool bh) {{"
    );
    let _ = writeln!(
        o,
        "  bgp_large_community.delete([({a}, {RPKI_INFO}, *), ({a}, {FILTERED}, *)]);"
    );
    if p.graceful_shutdown {
        let _ = writeln!(
            o,
            "  if ({},{}) ~ bgp_community then bgp_local_pref = 0;",
            gs.0, gs.1
        );
    }
    if p.blackhole {
        let (bmin, bmax) = match f {
            Family::Ipv4 => p.blackhole_length_v4,
            Family::Ipv6 => p.blackhole_length_v6,
        };
        let _ = writeln!(
            o,
            "  if !bh && (net.len < {min} || net.len > {max}) then {{ rs_reject({r}); return false; }}
  if bh && (net.len < {bmin} || net.len > {bmax}) then {{ rs_reject({r}); return false; }}",
            r = reason::PREFIX_LENGTH
        );
    } else {
        let _ = writeln!(
            o,
            "  if net.len < {min} || net.len > {max} then {{ rs_reject({}); return false; }}",
            reason::PREFIX_LENGTH
        );
    }
    if p.bogon_prefixes {
        let global = if f == Family::Ipv6 {
            " || !(net ~ [2000::/3+])"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "  if net ~ BOGONS_V{d}{global} then {{ rs_reject({}); return false; }}",
            reason::BOGON_PREFIX
        );
    }
    if p.bogon_asns {
        let _ = writeln!(
            o,
            "  if filter(bgp_path, BOGON_ASNS).len > 0 then {{ rs_reject({}); return false; }}",
            reason::BOGON_ASN
        );
    }
    let _ = writeln!(
        o,
        "  if bgp_path.len > {} then {{ rs_reject({}); return false; }}",
        p.max_as_path,
        reason::AS_PATH_LONG
    );
    if p.first_as {
        let _ = writeln!(
            o,
            "  if peer_as != 0 && bgp_path.first != peer_as then {{ rs_reject({}); return false; }}",
            reason::FIRST_AS
        );
    }
    if p.next_hop {
        let _ = writeln!(
            o,
            "  if nh && bgp_next_hop != peer_ip then {{ rs_reject({}); return false; }}",
            reason::NEXT_HOP
        );
    }
    match p.rpki {
        RpkiAction::Off => {}
        RpkiAction::Tag | RpkiAction::RejectInvalid => {
            let _ = writeln!(
                o,
                "  case roa_check(rpki{d}, net, bgp_path.last) {{\n    ROA_VALID: bgp_large_community.add(({a}, {RPKI_INFO}, 1));\n    ROA_UNKNOWN: bgp_large_community.add(({a}, {RPKI_INFO}, 2));\n    ROA_INVALID: bgp_large_community.add(({a}, {RPKI_INFO}, 3));\n  }}"
            );
            if p.rpki == RpkiAction::RejectInvalid {
                let _ = writeln!(
                    o,
                    "  if !bh && ({a}, {RPKI_INFO}, 3) ~ bgp_large_community then {{ rs_reject({}); return false; }}",
                    reason::RPKI_INVALID
                );
            }
        }
    }
    o.push_str("  return true;\n}\n\n");
}

fn render_announces(o: &mut String, bgp: &Bgp) {
    for f in [Family::Ipv4, Family::Ipv6] {
        let (n, d) = fam(f);
        let routes: Vec<_> = bgp
            .announces
            .iter()
            .filter(|a| Family::of(&a.prefix) == f)
            .collect();
        if routes.is_empty() {
            continue;
        }
        let _ = writeln!(o, "protocol static announce{d} {{\n  {n};");
        for r in routes {
            let mut attrs = String::new();
            for c in &r.communities {
                let _ = write!(attrs, " bgp_community.add(({},{}));", c.0, c.1);
            }
            for c in &r.large_communities {
                let _ = write!(
                    attrs,
                    " bgp_large_community.add(({},{},{}));",
                    c.0, c.1, c.2
                );
            }
            if attrs.is_empty() {
                let _ = writeln!(o, "  route {} blackhole;", r.prefix);
            } else {
                let _ = writeln!(o, "  route {} blackhole {{{attrs} }};", r.prefix);
            }
        }
        o.push_str("}\n\n");
    }
}

fn render_peer(o: &mut String, bgp: &Bgp, p: &Peer) {
    let name = p.name.as_str();
    for &f in &p.families {
        render_peer_filters(o, bgp, p, f);
    }
    let _ = writeln!(o, "protocol bgp p_{name} {{");
    if let Some(d) = &p.description {
        let _ = writeln!(o, "  description \"{d}\";");
    }
    let _ = writeln!(
        o,
        "  local as {};\n  neighbor {} as {};",
        bgp.asn, p.address, p.asn
    );
    if p.rs_client {
        // NO_EXPORT is for the members: BIRD would drop such routes on export.
        o.push_str("  rs client;\n  interpret communities off;\n");
    }
    if let Some(pw) = &p.password {
        let _ = writeln!(o, "  password \"{pw}\";");
    }
    if let Some(h) = p.multihop {
        let _ = writeln!(o, "  multihop {h};");
    }
    if p.ttl_security {
        o.push_str("  ttl security on;\n");
    }
    if p.passive {
        o.push_str("  passive on;\n");
    }
    if let Some(h) = p.hold_time {
        let _ = writeln!(o, "  hold time {h};");
    }
    for &f in &p.families {
        let (n, d) = fam(f);
        let _ = writeln!(
            o,
            "  {n} {{\n    import filter in{d}_{name};\n    export filter out{d}_{name};"
        );
        if p.rs_client {
            o.push_str("    secondary;\n");
        }
        // Routes are validated again when the ROAs change only with an import table.
        if !bgp.policies[&p.policy].rpki.is_off() {
            o.push_str("    import table on;\n");
        }
        if let Some(l) = p.max_prefix(f) {
            let _ = writeln!(
                o,
                "    import limit {l} action {};",
                p.max_prefix_action.bird()
            );
        }
        if let Some(ap) = p.add_path {
            let _ = writeln!(o, "    add paths {};", ap.bird());
        }
        // A session of the other family's address carries this family's next hop
        // as the local address; BIRD needs it said.
        if Family::of_addr(&p.address) != f {
            o.push_str("    extended next hop on;\n");
        }
        o.push_str("  };\n");
    }
    o.push_str("}\n\n");
}
