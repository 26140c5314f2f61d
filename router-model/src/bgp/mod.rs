//! The `[bgp]` section: BIRD's BGP sessions and an IXP-grade route-server policy, and its
//! validated form [`Bgp`]. Pure, like the rest of `model`.

pub mod confine;
pub mod lists;
mod prefix;
mod render;
mod state;
mod validate;
mod values;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::Family;

pub use prefix::PrefixPattern;
pub use state::*;
pub use values::*;

fn is_false(b: &bool) -> bool {
    !*b
}

/// The section as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BgpConfig {
    /// The local ASN (the route server's own).
    pub asn: Asn,
    pub router_id: Ipv4Addr,
    /// Peers are route-server clients unless they say `rs_client = false`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub route_server: bool,
    /// Announce GRACEFUL_SHUTDOWN (RFC 8326) on every route sent, now: for maintenance.
    #[serde(default, skip_serializing_if = "is_false")]
    pub graceful_shutdown: bool,
    /// Whether the agent's shutdown announces GRACEFUL_SHUTDOWN before BIRD stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_shutdown_on_stop: Option<bool>,
    /// Install BGP routes into the kernel (a router, not a route server).
    #[serde(default, skip_serializing_if = "is_false")]
    pub install_routes: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blackhole: Option<BlackholeConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpki: Option<RpkiConfig>,
    /// Named import policies; peers refer to them. `default` applies to peers naming none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policy: BTreeMap<BgpName, PolicyConfig>,
    #[serde(default, rename = "peer", skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<PeerConfig>,
    /// Prefixes this router originates.
    #[serde(default, rename = "announce", skip_serializing_if = "Vec::is_empty")]
    pub announces: Vec<AnnounceConfig>,
    /// BIRD text appended to the generated bird.conf, for what the model lacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// The text of the list files the peers name, filled in by whoever read the config
    /// (from its directory, or from the store): not part of the TOML.
    #[serde(skip)]
    pub files: ListFiles,
}

/// List files by name: their text, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListFiles(pub BTreeMap<ListFile, Result<String, String>>);

impl BgpConfig {
    /// The list files the peers name, each once.
    pub fn list_files(&self) -> Vec<ListFile> {
        let mut out: Vec<ListFile> = self
            .peers
            .iter()
            .flat_map(|p| [&p.allowed_prefixes_file, &p.allowed_origins_file])
            .flatten()
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Where BLACKHOLE-tagged routes (RFC 7999) point when sent on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_v4: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_v6: Option<Ipv6Addr>,
}

/// Route origin authorisations: a static table, RTR caches, or both.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RpkiConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roa: Vec<RoaConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rtr: Vec<RtrConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoaConfig {
    pub prefix: IpNet,
    /// The longest prefix the ROA allows; the prefix's own length when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u8>,
    pub asn: Asn,
}

/// An RPKI-to-router (RFC 8210) cache.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RtrConfig {
    pub address: IpAddr,
    /// 323 when left out (RFC 8210's port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// An import policy. Every check is on unless switched off; lengths and limits have
/// IXP defaults (see docs/config.md).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The route's NEXT_HOP must be the peer's own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<bool>,
    /// The AS_PATH must start with the peer's ASN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_as: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bogon_prefixes: Option<bool>,
    /// Private, reserved and documentation ASNs in the AS_PATH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bogon_asns: Option<bool>,
    /// ASNs that are nobody's customer (tier 1): in a member's AS_PATH, other than as the
    /// member itself, they mean a leak. Left out: [`TRANSIT_FREE_ASNS`]; `[]`: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_free_asns: Option<Vec<Asn>>,
    /// ASNs that peer never via route servers (PeeringDB's "never via route servers"):
    /// a route through one of them is a leak.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never_via_rs_asns: Vec<Asn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_as_path: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length_v4: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length_v4: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length_v6: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length_v6: Option<u8>,
    #[serde(default, skip_serializing_if = "RpkiAction::is_off")]
    pub rpki: RpkiAction,
    /// Accept BLACKHOLE-tagged more-specifics of the peer's allowed prefixes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub blackhole: bool,
    /// The lengths a blackhole may have: 24..=32 (IPv4) and 48..=128 (IPv6) by default;
    /// never 0 (the default route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blackhole_min_length_v4: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blackhole_max_length_v4: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blackhole_min_length_v6: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blackhole_max_length_v6: Option<u8>,
    /// Peers without `allowed_prefixes` may blackhole any prefix (of the lengths above).
    /// Off: such peers blackhole nothing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub blackhole_without_list: bool,
    /// Honour GRACEFUL_SHUTDOWN: such routes get the lowest preference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_shutdown: Option<bool>,
}

/// One `[[bgp.peer]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    pub name: BgpName,
    pub address: IpAddr,
    pub asn: Asn,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// TCP MD5 signature (RFC 2385).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Hops to a peer that is not on a shared network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multihop: Option<u8>,
    /// GTSM (RFC 5082): the peer must be directly connected, its packets arrive with TTL 255.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ttl_security: bool,
    /// Wait for the peer to connect.
    #[serde(default, skip_serializing_if = "is_false")]
    pub passive: bool,
    /// Seconds; 0 turns keepalives off, else at least 3. BIRD's default: 240.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_path: Option<AddPath>,
    /// The address families of the session; the address's own when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub families: Option<Vec<Family>>,
    /// A name from `[bgp.policy]`; `default` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<BgpName>,
    /// Whether the peer is a route-server client; `bgp.route_server` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rs_client: Option<bool>,
    /// A 32-bit ASN's 16-bit stand-in in standard export-control communities
    /// (`0:ALIAS`, `RS:ALIAS`); large communities name the real ASN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_alias: Option<Asn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prefix_v4: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prefix_v6: Option<u32>,
    #[serde(default, skip_serializing_if = "MaxPrefixAction::is_default")]
    pub max_prefix_action: MaxPrefixAction,
    /// The prefixes the peer may announce (IRR-derived): `P` exactly, `P+` and its more
    /// specifics, `P{a,b}` lengths a to b. Left out: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_prefixes: Option<Words>,
    /// The same list in a file beside the config, one pattern a line (`P le N` too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_prefixes_file: Option<ListFile>,
    /// The origin ASNs the peer may announce. Left out: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Words>,
    /// The same list in a file beside the config, one ASN a line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origins_file: Option<ListFile>,
}

/// One `[[bgp.announce]]`: a prefix originated here.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnnounceConfig {
    pub prefix: IpNet,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<Community>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub large_communities: Vec<LargeCommunity>,
}
