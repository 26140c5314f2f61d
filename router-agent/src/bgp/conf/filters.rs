//! A peer's own filters, per family: the sets of what it may announce, its import filter
//! (the policy's checks, then a route server's checks of the client) and its export filter.

use std::fmt::Write;

use super::export::member_addresses;
use super::{fam, list, pattern, reason};
use crate::model::bgp::{Asn, Bgp, Community, Peer, Policy, PrefixPattern};
use crate::model::Family;

/// What the import filter of one peer and family is made of.
struct Import<'a> {
    name: &'a str,
    d: char,
    policy: &'a Policy,
    /// The peer's allowed prefixes for the family, if it has a list.
    allowed: Option<Vec<PrefixPattern>>,
}

pub(super) fn render_peer_filters(o: &mut String, bgp: &Bgp, p: &Peer, f: Family) {
    let (_, d) = fam(f);
    let imp = Import {
        name: p.name.as_str(),
        d,
        policy: &bgp.policies[&p.policy],
        allowed: p.allowed(f),
    };
    render_allowed_sets(o, &imp, f);
    render_import_filter(o, bgp, p, f, &imp);
    render_export_filter(o, bgp, p, &imp);
}

/// `allowed` (and `covered`, where blackholes are taken) sets of the peer's list.
fn render_allowed_sets(o: &mut String, imp: &Import, f: Family) {
    let Some(l) = &imp.allowed else {
        return;
    };
    let (name, d) = (imp.name, imp.d);
    let set = if l.is_empty() {
        // An empty list allows nothing; BIRD has no empty set literal.
        match f {
            Family::Ipv4 => "[ 0.0.0.0/32{32,32} ]".to_owned(),
            Family::Ipv6 => "[ ::/128{128,128} ]".to_owned(),
        }
    } else {
        format!("[ {} ]", list(l.iter().map(pattern), "    "))
    };
    let _ = writeln!(o, "define allowed{d}_{name} = {set};");
    if imp.policy.blackhole {
        let covering: Vec<String> = l.iter().map(|p| format!("{}+", p.net)).collect();
        let _ = writeln!(
            o,
            "define covered{d}_{name} = [ {} ];",
            list(covering, "    ")
        );
    }
}

fn render_import_filter(o: &mut String, bgp: &Bgp, p: &Peer, f: Family, imp: &Import) {
    let (name, d, policy) = (imp.name, imp.d, imp.policy);
    // Over a session of the other family the policy cannot compare with the peer's
    // address; a client's next hop is checked below instead.
    // iBGP: the path starts empty and the next hop is any router's; 0 skips first AS.
    let ibgp = p.asn == bgp.asn;
    let same_family = Family::of_addr(&p.address) == f;
    let nh = same_family && !ibgp;
    let first_as = if ibgp { 0 } else { p.asn.get() };
    let bh = Community::BLACKHOLE;
    let _ = writeln!(o, "filter in{d}_{name} {{");
    // An absent community attribute makes `~` void, which a bool cannot hold: hence `if`.
    o.push_str("  bool bh = false;\n");
    if policy.blackhole {
        let _ = writeln!(
            o,
            "  if ({},{}) ~ bgp_community then bh = true;",
            bh.0, bh.1
        );
    }
    let _ = writeln!(
        o,
        "  if !policy_{}_{d}({}, {}, {nh}, bh) then accept;",
        p.policy, first_as, p.address
    );
    if p.rs_client {
        render_client_checks(o, bgp, p, same_family, policy);
    }
    render_list_checks(o, p, imp);
    o.push_str("  accept;\n}\n\n");
}

/// What a route server checks of a client beyond the policy: next hop, leaks, default.
fn render_client_checks(o: &mut String, bgp: &Bgp, p: &Peer, same_family: bool, policy: &Policy) {
    if !same_family && policy.next_hop {
        // RFC 8950 (IPv4 over an IPv6 session) or the reverse: the next hop must be one
        // of the member's own addresses, this session's or its other sessions'.
        let own: Vec<String> = member_addresses(bgp, p)
            .iter()
            .map(|a| format!("bgp_next_hop != {a}"))
            .collect();
        let _ = writeln!(
            o,
            "  if {} then {{ rs_reject({}); accept; }}",
            own.join(" && "),
            reason::NEXT_HOP
        );
    }
    // Route leaks: a tier 1 behind a member (the member itself may be one), or a
    // network that peers never via route servers.
    if !policy.transit_free_asns.is_empty() {
        let _ = writeln!(
            o,
            "  if filter(delete(bgp_path, {}), TRANSIT_FREE_{}).len > 0 then {{ rs_reject({}); accept; }}",
            p.asn,
            p.policy,
            reason::TRANSIT_FREE
        );
    }
    if !policy.never_via_rs_asns.is_empty() {
        let _ = writeln!(
            o,
            "  if filter(bgp_path, NEVER_VIA_RS_{}).len > 0 then {{ rs_reject({}); accept; }}",
            p.policy,
            reason::NEVER_VIA_RS
        );
    }
    // Nothing from a member makes the default route: neither as a blackhole nor as a
    // route (whatever the lengths allow).
    let _ = writeln!(
        o,
        "  if net.len = 0 then {{ rs_reject({}); accept; }}",
        reason::PREFIX_LENGTH
    );
}

/// The peer's lists: the prefixes it may announce (or blackhole) and their origins.
fn render_list_checks(o: &mut String, p: &Peer, imp: &Import) {
    let (name, d, policy) = (imp.name, imp.d, imp.policy);
    if imp.allowed.is_none() && policy.blackhole && !policy.blackhole_without_list {
        // Without a list there is no space of the member's own to blackhole.
        let _ = writeln!(
            o,
            "  if bh then {{ rs_reject({}); accept; }}",
            reason::IRR_PREFIX
        );
    }
    if imp.allowed.is_some() {
        let _ = writeln!(
            o,
            "  if !bh && !(net ~ allowed{d}_{name}) then {{ rs_reject({}); accept; }}",
            reason::IRR_PREFIX
        );
        if policy.blackhole {
            let _ = writeln!(
                o,
                "  if bh && !(net ~ covered{d}_{name}) then {{ rs_reject({}); accept; }}",
                reason::IRR_PREFIX
            );
        }
    }
    if let Some(origins) = &p.allowed_origins {
        let set = if origins.is_empty() {
            "[ 0 ]".to_owned()
        } else {
            format!("[ {} ]", list(origins.iter().map(Asn::to_string), "    "))
        };
        let _ = writeln!(
            o,
            "  if !(bgp_path.last ~ {set}) then {{ rs_reject({}); accept; }}",
            reason::IRR_ORIGIN
        );
    }
}

fn render_export_filter(o: &mut String, bgp: &Bgp, p: &Peer, imp: &Import) {
    let _ = writeln!(o, "filter out{}_{} {{", imp.d, imp.name);
    if p.rs_client {
        let _ = writeln!(
            o,
            "  if !export_ok({}, {}) then reject;",
            p.asn,
            p.community_asn().map_or(0, Asn::get)
        );
        o.push_str("  export_clean();\n  accept;\n}\n\n");
    } else {
        o.push_str("  if source != RTS_STATIC || proto !~ \"announce*\" then reject;\n");
        if bgp.graceful_shutdown {
            o.push_str("  bgp_community.add((65535,0));\n");
        }
        o.push_str("  accept;\n}\n\n");
    }
}
