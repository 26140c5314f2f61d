//! `[[interface]]`: what the operator writes, one table per interface.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::types::{IfName, MacAddr, Mtu, TableRef, VlanId};
use super::wireguard::WireguardOpts;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    pub name: IfName,
    pub kind: InterfaceKind,
    #[serde(default, skip_serializing_if = "AdminState::is_up")]
    pub state: AdminState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<Mtu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// The interface alias (`ip link set X alias ...`).
    #[serde(
        default,
        deserialize_with = "crate::types::deserialize_description",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::types::deserialize_nets",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub addresses: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical: Option<PhysicalOpts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeOpts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<VlanOpts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond: Option<BondOpts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<VrfOpts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veth: Option<VethOpts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macvlan: Option<MacvlanOpts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard: Option<WireguardOpts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InterfaceKind {
    /// `lo`: always present; only its extra addresses and MTU are config.
    Loopback,
    /// A NIC (or anything the agent must not create or delete), matched by name or MAC.
    Physical,
    Bridge,
    Vlan,
    Bond,
    Dummy,
    Vrf,
    Veth,
    Macvlan,
    Wireguard,
}

impl InterfaceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InterfaceKind::Loopback => "loopback",
            InterfaceKind::Physical => "physical",
            InterfaceKind::Bridge => "bridge",
            InterfaceKind::Vlan => "vlan",
            InterfaceKind::Bond => "bond",
            InterfaceKind::Dummy => "dummy",
            InterfaceKind::Vrf => "vrf",
            InterfaceKind::Veth => "veth",
            InterfaceKind::Macvlan => "macvlan",
            InterfaceKind::Wireguard => "wireguard",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminState {
    #[default]
    Up,
    Down,
}

impl AdminState {
    pub fn is_up(&self) -> bool {
        *self == AdminState::Up
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PhysicalOpts {
    /// Find the NIC by its permanent MAC and rename it to `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_mac: Option<MacAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeOpts {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<IfName>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub stp: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub vlan_filtering: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VlanOpts {
    pub parent: IfName,
    pub id: VlanId,
    #[serde(default, skip_serializing_if = "VlanProtocol::is_default")]
    pub protocol: VlanProtocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
pub enum VlanProtocol {
    #[default]
    #[serde(rename = "802.1q")]
    Dot1Q,
    #[serde(rename = "802.1ad")]
    Dot1AD,
}

impl VlanProtocol {
    pub fn is_default(&self) -> bool {
        *self == VlanProtocol::Dot1Q
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BondOpts {
    pub mode: BondMode,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<IfName>,
    /// MII link monitoring interval in milliseconds (0 = off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miimon: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lacp_rate: Option<LacpRate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmit_hash_policy: Option<XmitHashPolicy>,
}

/// Bonding modes, numbered as the kernel numbers them (IFLA_BOND_MODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum BondMode {
    #[serde(rename = "balance-rr")]
    BalanceRr = 0,
    #[serde(rename = "active-backup")]
    ActiveBackup = 1,
    #[serde(rename = "balance-xor")]
    BalanceXor = 2,
    #[serde(rename = "broadcast")]
    Broadcast = 3,
    #[serde(rename = "802.3ad")]
    Lacp = 4,
    #[serde(rename = "balance-tlb")]
    BalanceTlb = 5,
    #[serde(rename = "balance-alb")]
    BalanceAlb = 6,
}

impl BondMode {
    pub const ALL: [BondMode; 7] = [
        BondMode::BalanceRr,
        BondMode::ActiveBackup,
        BondMode::BalanceXor,
        BondMode::Broadcast,
        BondMode::Lacp,
        BondMode::BalanceTlb,
        BondMode::BalanceAlb,
    ];
    pub fn from_kernel(n: u8) -> Option<BondMode> {
        Self::ALL.into_iter().find(|m| *m as u8 == n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LacpRate {
    Slow = 0,
    Fast = 1,
}

/// IFLA_BOND_XMIT_HASH_POLICY values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum XmitHashPolicy {
    #[serde(rename = "layer2")]
    Layer2 = 0,
    #[serde(rename = "layer3+4")]
    Layer34 = 1,
    #[serde(rename = "layer2+3")]
    Layer23 = 2,
    #[serde(rename = "encap2+3")]
    Encap23 = 3,
    #[serde(rename = "encap3+4")]
    Encap34 = 4,
    #[serde(rename = "vlan+srcmac")]
    VlanSrcMac = 5,
}

impl XmitHashPolicy {
    pub const ALL: [XmitHashPolicy; 6] = [
        XmitHashPolicy::Layer2,
        XmitHashPolicy::Layer34,
        XmitHashPolicy::Layer23,
        XmitHashPolicy::Encap23,
        XmitHashPolicy::Encap34,
        XmitHashPolicy::VlanSrcMac,
    ];
    pub fn from_kernel(n: u8) -> Option<XmitHashPolicy> {
        Self::ALL.into_iter().find(|m| *m as u8 == n)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VrfOpts {
    pub table: TableRef,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<IfName>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VethOpts {
    pub peer: IfName,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MacvlanOpts {
    pub parent: IfName,
    #[serde(default, skip_serializing_if = "MacvlanMode::is_default")]
    pub mode: MacvlanMode,
}

/// MACVLAN_MODE_* values (a bit each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    Private = 1,
    Vepa = 2,
    #[default]
    Bridge = 4,
    Passthru = 8,
    Source = 16,
}

impl MacvlanMode {
    pub const ALL: [MacvlanMode; 5] = [
        MacvlanMode::Private,
        MacvlanMode::Vepa,
        MacvlanMode::Bridge,
        MacvlanMode::Passthru,
        MacvlanMode::Source,
    ];
    pub fn is_default(&self) -> bool {
        *self == MacvlanMode::Bridge
    }
    pub fn from_kernel(n: u32) -> Option<MacvlanMode> {
        Self::ALL.into_iter().find(|m| *m as u32 == n)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
