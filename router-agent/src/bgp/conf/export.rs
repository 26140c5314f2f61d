//! What route-server clients are sent: the export side of the policy.

use std::fmt::Write;
use std::net::IpAddr;

use super::RPKI_INFO;
use crate::model::bgp::{Bgp, Peer};

/// Whether a route goes to a client: `peer_as` its ASN, `std_as` the ASN standard
/// communities name it by (0: none, a 32-bit member without an alias). Large communities
/// work for every member; the standard forms with the route server's ASN only when that
/// fits 16 bits.
pub(super) fn render_export_ok(o: &mut String, bgp: &Bgp) {
    let a = bgp.asn.get();
    let (nobody, except) = if bgp.asn.is_16bit() {
        (
            format!(" || (0, {a}) ~ bgp_community"),
            format!("\n    if std_as != 0 && ({a}, std_as) ~ bgp_community then return true;"),
        )
    } else {
        (String::new(), String::new())
    };
    let _ = writeln!(
        o,
        "# What every client's export filter does: drop filtered and RPKI-invalid routes
# (`tag` keeps them in the table, for the record), honour NO_ADVERTISE (meant for the
# route server itself; NO_EXPORT is for the receiving member, passed on) and the export
# control communities, strip them, point blackholes at the blackhole next hop.
function export_ok(int peer_as; int std_as) {{
  if rs_rejected() then return false;
  if ({a}, {RPKI_INFO}, 3) ~ bgp_large_community then return false;
  if (65535,65282) ~ bgp_community then return false;
  if ({a}, 0, peer_as) ~ bgp_large_community then return false;
  if std_as != 0 && (0, std_as) ~ bgp_community then return false;
  if ({a}, 0, 0) ~ bgp_large_community{nobody} then {{
    if ({a}, 1, peer_as) ~ bgp_large_community then return true;{except}
    return false;
  }}
  return true;
}}
"
    );
}

/// The peer's address, then those of the other sessions of its ASN, each once.
pub(super) fn member_addresses(bgp: &Bgp, p: &Peer) -> Vec<IpAddr> {
    let mut out = vec![p.address];
    for q in bgp.peers.iter().filter(|q| q.asn == p.asn) {
        if !out.contains(&q.address) {
            out.push(q.address);
        }
    }
    out
}
