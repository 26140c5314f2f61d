//! The Linux backend: rtnetlink for links, addresses, routes and rules; generic netlink
//! for WireGuard devices; nf_tables over netlink for the firewall's reads; /proc/sys for
//! sysctls. `firewall` and `bgp` reach the kernel through `nft` and BIRD, and the daemon's
//! management path through `ip`/udhcpc; everything netlink is here.

mod address_codec;
mod execute;
mod link_codec;
mod linux;
pub mod mgmt_path;
pub mod modules;
pub mod monitor;
pub mod netlink;
pub mod netns;
mod nexthop_codec;
pub mod nf_tables;
pub mod route_codec;
mod rule_codec;
mod wireguard;

pub use linux::LinuxKernel;

/// The route and rule protocol (`rtm_protocol`) the agent writes: `ip route` shows it as
/// `proto 196`. 0..=4 and the numbers in /etc/iproute2/rt_protos are taken by others.
pub const PROTOCOL: u8 = 196;

/// Protocols whose routes and rules are config: the agent's own, and `boot` and `static`,
/// which is what an operator gets from `ip route add` and `ip route add ... proto static`.
pub const OWNED_PROTOCOLS: [u8; 3] = [3, 4, PROTOCOL];

/// Rule protocols that are config: `ip rule add` leaves the protocol unspecified (0); the
/// kernel's own rules (and a VRF's l3mdev rule) say `kernel` (2).
pub const OWNED_RULE_PROTOCOLS: [u8; 4] = [0, 3, 4, PROTOCOL];

/// Routes through one gateway in one apply from which the agent installs them on a shared
/// nexthop object instead of each carrying the gateway. Below it, routes look exactly like
/// `ip route add ... via` ones.
pub const NEXTHOP_OBJECT_MIN: usize = 1000;

/// A kernel interface index.
pub type IfIndex = u32;
