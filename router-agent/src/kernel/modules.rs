//! Kernel modules the agent loads itself, before it writes what needs them: one
//! `modprobe -a` for the config's link kinds and firewall statements. Left to the kernel,
//! each module would be its own `modprobe`, spawned by a kernel worker at normal priority
//! while the agent's netlink request or nft transaction waits; at boot in a small VM that
//! costs about half a second per module. Only an optimisation: a module that cannot be
//! loaded here is still requested by the kernel, which then reports the real error.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, ExitStatus};

use crate::model::firewall::{ChainType, Firewall, Rule, Verdict};
use crate::model::{LinkKind, NetState};

/// The module behind a link kind; `None` where the kernel needs none.
fn link_module(kind: &LinkKind) -> Option<&'static str> {
    Some(match kind {
        LinkKind::Loopback | LinkKind::Physical { .. } => return None,
        LinkKind::Bridge { .. } => "bridge",
        LinkKind::Vlan { .. } => "8021q",
        LinkKind::Bond { .. } => "bonding",
        LinkKind::Dummy => "dummy",
        LinkKind::Vrf { .. } => "vrf",
        LinkKind::Veth { .. } => "veth",
        LinkKind::Macvlan { .. } => "macvlan",
        LinkKind::Wireguard(_) => "wireguard",
    })
}

/// The modules the agent's compiled ruleset uses. Raw rules are left to the kernel.
fn firewall_modules(fw: &Firewall, out: &mut BTreeSet<&'static str>) {
    out.insert("nf_tables");
    for chain in fw.chains.values() {
        if chain.base.is_some_and(|b| b.kind == ChainType::Nat) {
            out.insert("nft_chain_nat");
        }
        for rule in &chain.rules {
            let Rule::Model(r) = rule else { continue };
            if !r.state.is_empty() {
                out.insert("nft_ct");
            }
            if r.limit.is_some() {
                out.insert("nft_limit");
            }
            if r.log.is_some() {
                out.insert("nft_log");
            }
            match r.verdict {
                Verdict::Reject(_) => out.insert("nft_reject_inet"),
                Verdict::Masquerade => out.insert("nft_masq"),
                Verdict::Snat(_) | Verdict::Dnat(_) => out.insert("nft_nat"),
                Verdict::Redirect(_) => out.insert("nft_redir"),
                _ => false,
            };
        }
    }
}

/// Every module applying `state` and `firewall` can need, loaded or not.
pub fn for_config(state: &NetState, firewall: Option<&Firewall>) -> BTreeSet<&'static str> {
    let mut out: BTreeSet<&'static str> = state
        .links
        .values()
        .filter_map(|l| link_module(&l.kind))
        .collect();
    if let Some(fw) = firewall {
        firewall_modules(fw, &mut out);
    }
    out
}

/// One `modprobe -q -a` for every module or alias in `names`; `blacklist`: the
/// blacklist applies, as for udev's loading by modalias.
pub fn modprobe<S: AsRef<OsStr>>(names: &[S], blacklist: bool) -> std::io::Result<ExitStatus> {
    let mut cmd = Command::new("modprobe");
    cmd.args(["-q", "-a"]);
    if blacklist {
        cmd.arg("-b");
    }
    cmd.args(names).status()
}

/// Loads, in one `modprobe`, those of `wanted` that `sys_module` (a /sys/module) does not
/// list and that were not tried before; records them in `tried`. Failures are logged.
pub fn load_missing(
    sys_module: &Path,
    wanted: &BTreeSet<&'static str>,
    tried: &mut HashSet<&'static str>,
) {
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|m| !tried.contains(m) && !sys_module.join(m).exists())
        .collect();
    if missing.is_empty() {
        return;
    }
    tried.extend(missing.iter().copied());
    tracing::debug!("loading kernel modules {}", missing.join(" "));
    match modprobe(&missing, false) {
        Ok(s) if s.success() => {}
        Ok(s) => tracing::debug!(
            "modprobe {}: {s} (the kernel will ask for them itself)",
            missing.join(" ")
        ),
        Err(e) => tracing::debug!("modprobe: {e} (the kernel will ask for modules itself)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules(text: &str) -> Vec<&'static str> {
        let config = crate::model::load("test.toml", text).expect("valid config");
        for_config(&config.state, config.firewall.as_ref())
            .into_iter()
            .collect()
    }

    #[test]
    fn link_kinds_and_firewall_statements_name_their_modules() {
        let text = r#"
version = 1
[[interface]]
name = "eth0"
kind = "physical"
[[interface]]
name = "eth0.7"
kind = "vlan"
vlan = { parent = "eth0", id = 7 }
[[interface]]
name = "lo1"
kind = "dummy"
[firewall]
input = "drop"
[[firewall.rule]]
chain = "input"
state = ["established"]
action = "accept"
[[firewall.rule]]
chain = "input"
protocol = "tcp"
dport = 22
limit = "10/minute"
log = "ssh: "
action = "reject"
[[firewall.nat]]
out_interface = "eth0"
action = "masquerade"
"#;
        assert_eq!(
            modules(text),
            [
                "8021q",
                "dummy",
                "nf_tables",
                "nft_chain_nat",
                "nft_ct",
                "nft_limit",
                "nft_log",
                "nft_masq",
                "nft_reject_inet"
            ]
        );
    }

    #[test]
    fn no_firewall_no_netfilter() {
        assert!(modules("version = 1\n").is_empty());
    }

    #[test]
    fn loaded_and_tried_modules_are_not_asked_for_again() {
        let sys = std::env::temp_dir().join(format!("ra-modules-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&sys);
        std::fs::create_dir_all(sys.join("dummy")).expect("mkdir");
        let wanted: BTreeSet<&'static str> = ["dummy"].into();
        let mut tried = HashSet::new();
        load_missing(&sys, &wanted, &mut tried);
        assert!(tried.is_empty(), "dummy is loaded: no modprobe");
        let mut tried: HashSet<&'static str> = ["8021q"].into();
        load_missing(&sys, &["8021q"].into(), &mut tried);
        assert_eq!(tried.len(), 1);
        std::fs::remove_dir_all(&sys).expect("cleanup");
    }
}
