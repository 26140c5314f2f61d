//! [`Bgp`] back to the `[bgp]` section, in canonical form: what `show` prints.

use super::state::*;
use super::*;

fn unless<T: PartialEq>(v: T, default: T) -> Option<T> {
    (v != default).then_some(v)
}

impl Policy {
    fn to_config(&self) -> PolicyConfig {
        let d = Policy::default();
        PolicyConfig {
            transit_free_asns: unless(self.transit_free_asns.clone(), d.transit_free_asns.clone()),
            never_via_rs_asns: self.never_via_rs_asns.clone(),
            next_hop: unless(self.next_hop, d.next_hop),
            first_as: unless(self.first_as, d.first_as),
            bogon_prefixes: unless(self.bogon_prefixes, d.bogon_prefixes),
            bogon_asns: unless(self.bogon_asns, d.bogon_asns),
            max_as_path: unless(self.max_as_path, d.max_as_path),
            min_length_v4: unless(self.length_v4.0, d.length_v4.0),
            max_length_v4: unless(self.length_v4.1, d.length_v4.1),
            min_length_v6: unless(self.length_v6.0, d.length_v6.0),
            max_length_v6: unless(self.length_v6.1, d.length_v6.1),
            rpki: self.rpki,
            blackhole: self.blackhole,
            blackhole_min_length_v4: unless(self.blackhole_length_v4.0, d.blackhole_length_v4.0),
            blackhole_max_length_v4: unless(self.blackhole_length_v4.1, d.blackhole_length_v4.1),
            blackhole_min_length_v6: unless(self.blackhole_length_v6.0, d.blackhole_length_v6.0),
            blackhole_max_length_v6: unless(self.blackhole_length_v6.1, d.blackhole_length_v6.1),
            blackhole_without_list: self.blackhole_without_list,
            graceful_shutdown: unless(self.graceful_shutdown, d.graceful_shutdown),
        }
    }
}

impl Bgp {
    pub fn to_config(&self) -> BgpConfig {
        let policy = self
            .policies
            .iter()
            .filter(|(n, p)| n.as_str() != DEFAULT_POLICY || **p != Policy::default())
            .map(|(n, p)| (n.clone(), p.to_config()))
            .collect();
        let blackhole = (self.blackhole_v4.is_some() || self.blackhole_v6.is_some()).then_some(
            BlackholeConfig {
                next_hop_v4: self.blackhole_v4,
                next_hop_v6: self.blackhole_v6,
            },
        );
        let rpki = self.uses_rpki().then(|| RpkiConfig {
            roa: self
                .roas
                .iter()
                .map(|r| RoaConfig {
                    prefix: r.prefix,
                    max_length: unless(r.max_length, r.prefix.prefix_len()),
                    asn: r.asn,
                })
                .collect(),
            rtr: self
                .rtr
                .iter()
                .map(|(a, p)| RtrConfig {
                    address: *a,
                    port: unless(*p, 323),
                })
                .collect(),
        });
        BgpConfig {
            asn: self.asn,
            router_id: self.router_id,
            route_server: self.route_server,
            graceful_shutdown: self.graceful_shutdown,
            graceful_shutdown_on_stop: unless(self.graceful_shutdown_on_stop, true),
            install_routes: self.install_routes,
            blackhole,
            rpki,
            policy,
            peers: self
                .peers
                .iter()
                .map(|p| p.to_config(self.route_server))
                .collect(),
            announces: self
                .announces
                .iter()
                .map(|a| AnnounceConfig {
                    prefix: a.prefix,
                    communities: a.communities.clone(),
                    large_communities: a.large_communities.clone(),
                })
                .collect(),
            raw: self.raw.clone(),
            files: ListFiles(
                self.files
                    .iter()
                    .map(|(n, t)| (n.clone(), Ok(t.clone())))
                    .collect(),
            ),
        }
    }
}

impl Peer {
    fn to_config(&self, route_server: bool) -> PeerConfig {
        let text = |l: Vec<String>| Words(l);
        PeerConfig {
            name: self.name.clone(),
            address: self.address,
            asn: self.asn,
            description: self.description.clone(),
            password: self.password.clone(),
            multihop: self.multihop,
            ttl_security: self.ttl_security,
            passive: self.passive,
            hold_time: self.hold_time,
            add_path: self.add_path,
            families: self.families_written.then(|| self.families.clone()),
            policy: (self.policy.as_str() != DEFAULT_POLICY).then(|| self.policy.clone()),
            rs_client: unless(self.rs_client, route_server),
            community_alias: self.community_alias,
            max_prefix_v4: self.max_prefix_v4,
            max_prefix_v6: self.max_prefix_v6,
            max_prefix_action: self.max_prefix_action,
            // A list from a file stays a reference: the file is input, not running state.
            allowed_prefixes: self
                .allowed_prefixes
                .as_ref()
                .filter(|_| self.allowed_prefixes_file.is_none())
                .map(|l| text(l.iter().map(|p| p.to_string()).collect())),
            allowed_prefixes_file: self.allowed_prefixes_file.clone(),
            allowed_origins: self
                .allowed_origins
                .as_ref()
                .filter(|_| self.allowed_origins_file.is_none())
                .map(|l| text(l.iter().map(|a| a.to_string()).collect())),
            allowed_origins_file: self.allowed_origins_file.clone(),
        }
    }
}
