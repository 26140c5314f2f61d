//! The running config shaped like the text saved before, so that a snapshot's diff holds
//! what changed and nothing else: entries in the operator's order, routes grouped as the
//! operator grouped them (a one-prefix `prefixes` list stays one), and what the previous
//! text does not name and nobody changed since the agent started (sysctls at their boot
//! values, kernel-made links such as `lo`, NICs the config leaves alone) left out, and
//! `[logging]`, which no kernel state holds, kept as it was.

use std::net::IpAddr;

use ipnet::IpNet;

use super::interface::{AdminState, InterfaceConfig, InterfaceKind};
use super::render::GROUP_MIN;
use super::route::{PrefixList, RouteConfig};
use super::sysctl::SysctlConfig;
use super::types::IfName;
use super::Config;

/// `running` shaped like `previous`. `baseline` is the running config as it was before the
/// agent changed anything (none: unknown, everything running is kept).
pub fn shape_like(mut running: Config, previous: &Config, baseline: Option<&Config>) -> Config {
    running.sysctl = sysctls(
        &running.sysctl,
        &previous.sysctl,
        baseline.map(|b| &b.sysctl),
    );
    running.interfaces = interfaces(running.interfaces, &previous.interfaces, baseline);
    running.routes = routes(running.routes, &previous.routes);
    // The kernel holds no [logging]: the section stays as the operator wrote it.
    running.logging = previous.logging.clone();
    running
}

/// What the boot contract (`router.mgmt=` with a static address) put on the management
/// NIC before any config: not config, unless a config names it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootState {
    pub nic: IfName,
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
}

/// `config` without the boot contract's address and default route, except where
/// `previous` names them (then the config owns them as usual).
pub fn without_boot_state(mut config: Config, previous: &Config, boot: &BootState) -> Config {
    let named = previous
        .interfaces
        .iter()
        .any(|i| i.name == boot.nic && i.addresses.contains(&boot.address));
    if !named {
        for i in config.interfaces.iter_mut().filter(|i| i.name == boot.nic) {
            i.addresses.retain(|a| *a != boot.address);
        }
    }
    let is_default = |r: &RouteConfig| {
        boot.gateway.is_some()
            && r.via == boot.gateway
            && r.table.is_none()
            && r.to.is_some_and(|t| t.prefix_len() == 0)
    };
    if !previous.routes.iter().any(is_default) {
        config.routes.retain(|r| !is_default(r));
    }
    config
}

/// The sysctls `previous` names, and the others that differ from `baseline`.
fn sysctls(
    running: &SysctlConfig,
    previous: &SysctlConfig,
    baseline: Option<&SysctlConfig>,
) -> SysctlConfig {
    let Some(baseline) = baseline else {
        return running.clone();
    };
    let named = previous.to_values();
    let before = baseline.to_values();
    let kept = running
        .to_values()
        .into_iter()
        .filter(|(k, v)| named.contains_key(k) || before.get(k) != Some(v))
        .collect();
    SysctlConfig::from_values(&kept)
}

/// A loopback as the kernel makes it: up, nothing set.
fn kernel_default(i: &InterfaceConfig) -> bool {
    i.kind == InterfaceKind::Loopback
        && i.state == AdminState::Up
        && i.mtu.is_none()
        && i.mac.is_none()
        && i.description.is_none()
        && i.addresses.is_empty()
}

/// The interfaces `previous` names, in its order, then the others that are new or changed
/// since `baseline` (or, without one, that are not a loopback at its defaults).
fn interfaces(
    running: Vec<InterfaceConfig>,
    previous: &[InterfaceConfig],
    baseline: Option<&Config>,
) -> Vec<InterfaceConfig> {
    let unchanged = |i: &InterfaceConfig| match baseline {
        Some(b) => b.interfaces.iter().any(|o| o == i),
        None => kernel_default(i),
    };
    let (mut named, rest): (Vec<_>, Vec<_>) = running
        .into_iter()
        .filter(|i| previous.iter().any(|p| p.name == i.name) || !unchanged(i))
        .partition(|i| previous.iter().any(|p| p.name == i.name));
    let rank = |i: &InterfaceConfig| previous.iter().position(|p| p.name == i.name);
    named.sort_by_key(rank);
    named.extend(rest);
    named
}

/// A route without its destinations: what routes of one group share.
fn attrs(r: &RouteConfig) -> RouteConfig {
    RouteConfig {
        to: None,
        prefixes: None,
        ..r.clone()
    }
}

fn destinations(r: &RouteConfig) -> Vec<IpNet> {
    r.to.into_iter()
        .chain(r.prefixes.iter().flat_map(|p| p.0.iter().copied()))
        .collect()
}

/// The running routes, entry by entry as `previous` wrote them (a `prefixes` list keeps
/// those of its prefixes still there, in its order); the new ones after, grouped as the
/// canonical render groups them.
fn routes(running: Vec<RouteConfig>, previous: &[RouteConfig]) -> Vec<RouteConfig> {
    let pool: Vec<(RouteConfig, IpNet)> = running
        .iter()
        .flat_map(|r| destinations(r).into_iter().map(|d| (attrs(r), d)))
        .collect();
    let mut taken = vec![false; pool.len()];
    let mut out = Vec::new();
    for p in previous {
        let a = attrs(p);
        let mut picked = Vec::new();
        for dst in destinations(p) {
            let found = pool
                .iter()
                .zip(taken.iter_mut())
                .find(|((pa, pd), t)| !**t && *pd == dst && *pa == a);
            if let Some((_, t)) = found {
                *t = true;
                picked.push(dst);
            }
        }
        match (picked.len(), p.prefixes.is_some()) {
            (0, _) => {}
            (_, true) => out.push(RouteConfig {
                prefixes: Some(PrefixList(picked)),
                ..a
            }),
            (_, false) => out.push(RouteConfig {
                to: Some(picked[0]),
                ..a
            }),
        }
    }
    let mut groups: Vec<(RouteConfig, Vec<IpNet>)> = Vec::new();
    for ((a, d), _) in pool.into_iter().zip(taken).filter(|(_, t)| !t) {
        match groups.iter_mut().find(|(b, _)| *b == a) {
            Some((_, dsts)) => dsts.push(d),
            None => groups.push((a, vec![d])),
        }
    }
    for (a, dsts) in groups {
        if dsts.len() >= GROUP_MIN {
            out.push(RouteConfig {
                prefixes: Some(PrefixList(dsts)),
                ..a
            });
        } else {
            out.extend(dsts.into_iter().map(|d| RouteConfig {
                to: Some(d),
                ..a.clone()
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        toml::from_str(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_one_prefix_list_stays_a_list_and_new_routes_come_after() {
        let previous = config(
            r#"version = 1
[[route]]
prefixes = ["198.51.100.0/24"]
type = "blackhole"
[[route]]
to = "10.0.0.0/8"
type = "blackhole"
"#,
        );
        let running = config(
            r#"version = 1
[[route]]
to = "10.0.0.0/8"
type = "blackhole"
[[route]]
to = "10.9.0.0/16"
type = "blackhole"
[[route]]
to = "198.51.100.0/24"
type = "blackhole"
"#,
        );
        let shaped = shape_like(running, &previous, None);
        let dsts: Vec<_> = shaped.routes.iter().map(destinations).collect();
        assert_eq!(
            dsts,
            [
                vec!["198.51.100.0/24".parse::<IpNet>().unwrap()],
                vec!["10.0.0.0/8".parse().unwrap()],
                vec!["10.9.0.0/16".parse().unwrap()],
            ]
        );
        assert!(shaped.routes[0].prefixes.is_some());
    }

    #[test]
    fn the_boot_contract_address_and_route_are_config_only_when_named() {
        let boot = BootState {
            nic: "eth0".parse().unwrap(),
            address: "10.0.2.15/24".parse().unwrap(),
            gateway: Some("10.0.2.2".parse().unwrap()),
        };
        let running = config(
            r#"version = 1
[[interface]]
name = "eth0"
kind = "physical"
addresses = ["10.0.2.15/24", "192.0.2.1/24"]
[[route]]
to = "0.0.0.0/0"
via = "10.0.2.2"
dev = "eth0"
"#,
        );
        let bare = config("version = 1\n[[interface]]\nname = \"eth0\"\nkind = \"physical\"\n");
        let out = without_boot_state(running.clone(), &bare, &boot);
        assert_eq!(
            out.interfaces[0].addresses,
            ["192.0.2.1/24".parse::<IpNet>().unwrap()]
        );
        assert!(out.routes.is_empty());
        assert_eq!(
            without_boot_state(running.clone(), &running, &boot),
            running
        );
    }

    #[test]
    fn unnamed_sysctls_at_their_boot_values_stay_out() {
        let baseline = config(
            "version = 1\n[sysctl]\nipv4_forwarding = false\nipv6_forwarding = false\nrp_filter = \"off\"\n",
        );
        let previous = config("version = 1\n[sysctl]\nipv4_forwarding = true\n");
        let running = config(
            "version = 1\n[sysctl]\nipv4_forwarding = true\nipv6_forwarding = false\nrp_filter = \"strict\"\n",
        );
        let shaped = shape_like(running, &previous, Some(&baseline));
        let want =
            config("version = 1\n[sysctl]\nipv4_forwarding = true\nrp_filter = \"strict\"\n");
        assert_eq!(shaped.sysctl, want.sysctl);
    }
}
