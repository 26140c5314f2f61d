//! The validated `[bgp]`: defaults filled in, names resolved, lists parsed and sorted.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::RpkiAction;
use super::{
    AddPath, Asn, BgpName, Community, LargeCommunity, ListFile, MaxPrefixAction, PrefixPattern,
};
use crate::Family;

/// The name of the policy of peers that name none.
pub const DEFAULT_POLICY: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bgp {
    pub asn: Asn,
    pub router_id: Ipv4Addr,
    pub route_server: bool,
    pub graceful_shutdown: bool,
    pub graceful_shutdown_on_stop: bool,
    pub install_routes: bool,
    pub blackhole_v4: Option<Ipv4Addr>,
    pub blackhole_v6: Option<Ipv6Addr>,
    /// Sorted, without duplicates.
    pub roas: Vec<Roa>,
    pub rtr: Vec<(IpAddr, u16)>,
    /// Always holds `default`.
    pub policies: BTreeMap<BgpName, Policy>,
    /// In config order: BIRD's protocol order follows it.
    pub peers: Vec<Peer>,
    pub announces: Vec<Announce>,
    pub raw: Option<String>,
    /// The text of the list files the peers name (kept to write them into bird.conf's
    /// header, so that read-back has them).
    pub files: BTreeMap<ListFile, String>,
}

impl Bgp {
    /// Whether any policy validates origins, so ROA tables are needed.
    pub fn uses_rpki(&self) -> bool {
        !self.roas.is_empty() || !self.rtr.is_empty()
    }
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Roa {
    pub prefix: IpNet,
    pub max_length: u8,
    pub asn: Asn,
}

/// Transit-free networks checked by default: a common list (Cogent, Verizon, Arelion,
/// NTT, GTT, Lumen, Tata, Zayo, AT&T, ...).
pub const TRANSIT_FREE_ASNS: &[u32] = &[
    174, 209, 286, 701, 1239, 1299, 2828, 2914, 3257, 3320, 3356, 3491, 5511, 6453, 6461, 6762,
    6830, 7018, 12956,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub next_hop: bool,
    pub first_as: bool,
    pub bogon_prefixes: bool,
    pub bogon_asns: bool,
    /// Sorted, without duplicates.
    pub transit_free_asns: Vec<Asn>,
    /// Sorted, without duplicates.
    pub never_via_rs_asns: Vec<Asn>,
    pub max_as_path: u8,
    pub length_v4: (u8, u8),
    pub length_v6: (u8, u8),
    pub rpki: RpkiAction,
    pub blackhole: bool,
    pub blackhole_length_v4: (u8, u8),
    pub blackhole_length_v6: (u8, u8),
    pub blackhole_without_list: bool,
    pub graceful_shutdown: bool,
}

impl Default for Policy {
    /// What IXP route servers commonly use (arouteserver's and IXP Manager's defaults).
    fn default() -> Self {
        Policy {
            next_hop: true,
            first_as: true,
            bogon_prefixes: true,
            bogon_asns: true,
            transit_free_asns: TRANSIT_FREE_ASNS
                .iter()
                .map(|&a| Asn::new(a.into()).expect("a valid ASN"))
                .collect(),
            never_via_rs_asns: Vec::new(),
            max_as_path: 32,
            length_v4: (8, 24),
            length_v6: (16, 48),
            rpki: RpkiAction::Off,
            blackhole: false,
            blackhole_length_v4: (24, 32),
            blackhole_length_v6: (48, 128),
            blackhole_without_list: false,
            graceful_shutdown: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: BgpName,
    pub address: IpAddr,
    pub asn: Asn,
    pub description: Option<String>,
    pub password: Option<String>,
    pub multihop: Option<u8>,
    pub ttl_security: bool,
    pub passive: bool,
    pub hold_time: Option<u16>,
    pub add_path: Option<AddPath>,
    /// Sorted; what the config says, or the address's family.
    pub families: Vec<Family>,
    /// Whether `families` was written in the config (rendered back only then).
    pub families_written: bool,
    pub policy: BgpName,
    pub rs_client: bool,
    pub community_alias: Option<Asn>,
    pub max_prefix_v4: Option<u32>,
    pub max_prefix_v6: Option<u32>,
    pub max_prefix_action: MaxPrefixAction,
    /// Sorted, without duplicates; from the config or from `allowed_prefixes_file`.
    pub allowed_prefixes: Option<Vec<PrefixPattern>>,
    pub allowed_prefixes_file: Option<ListFile>,
    pub allowed_origins: Option<Vec<Asn>>,
    pub allowed_origins_file: Option<ListFile>,
}

impl Peer {
    pub fn has(&self, f: Family) -> bool {
        self.families.contains(&f)
    }
    pub fn max_prefix(&self, f: Family) -> Option<u32> {
        match f {
            Family::Ipv4 => self.max_prefix_v4,
            Family::Ipv6 => self.max_prefix_v6,
        }
    }
    /// The ASN standard communities name the peer by: its own if it fits 16 bits, else
    /// its alias, if any.
    pub fn community_asn(&self) -> Option<Asn> {
        if self.asn.is_16bit() {
            Some(self.asn)
        } else {
            self.community_alias
        }
    }
    /// The allowed prefixes of one family (None: not checked).
    pub fn allowed(&self, f: Family) -> Option<Vec<PrefixPattern>> {
        self.allowed_prefixes.as_ref().map(|l| {
            l.iter()
                .filter(|p| Family::of(&p.net) == f)
                .copied()
                .collect()
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub prefix: IpNet,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
}
