//! The management path, brought up before the store can be reached: the NIC chosen by
//! `router.mgmt=`/`BOOTIF=` (else the first Ethernet NIC), a static address or DHCP.
//! A static address goes over netlink; DHCP is the image's client with a hook of the
//! agent's that marks what the lease brings as not config (see [`UDHCPC_SCRIPT`]).

use std::path::Path;
use std::process::{Command, Stdio};

use super::bootargs::{Mgmt, MgmtDevice};
use crate::kernel::mgmt_path::{self, MgmtPathError};

/// udhcpc's hook: the leased address with the lease's lifetime (the agent never takes an
/// address with a finite lifetime for config), the default route as `proto dhcp` (not a
/// protocol the agent owns) at metric 1024, so a default route from the config wins.
pub const UDHCPC_SCRIPT: &str = include_str!("udhcpc.script");

#[derive(Debug, thiserror::Error)]
pub enum MgmtError {
    #[error("no management interface: {0}")]
    NoDevice(String),
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("no DHCP client found (looked for udhcpc, dhclient, dhcpcd); use router.mgmt=ADDRESS/PREFIX,gw=IP")]
    NoDhcpClient,
    #[error("static management address")]
    Static(#[from] MgmtPathError),
    #[error("writing udhcpc's hook {path}: {error}")]
    Script { path: String, error: std::io::Error },
}

/// Runs a DHCP client; its output goes where the agent's goes (the journal and console).
fn run(program: &str, args: &[&str]) -> Result<(), MgmtError> {
    let command = format!("{program} {}", args.join(" "));
    tracing::info!("management: {command}");
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| MgmtError::Command {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(MgmtError::Command {
            command,
            detail: status.to_string(),
        })
    }
}

/// (name, MAC) of the Ethernet NICs, from /sys/class/net, sorted by name.
pub fn ethernet_nics(sys: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(sys) else {
        return out;
    };
    for e in entries.flatten() {
        let dir = e.path();
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .ok()
                .map(|s| s.trim().to_owned())
        };
        // type 1 is ARPHRD_ETHER; virtual links (bridges, veths) have no `device`.
        if read("type").as_deref() == Some("1") && dir.join("device").exists() {
            if let Some(mac) = read("address") {
                out.push((e.file_name().to_string_lossy().into_owned(), mac));
            }
        }
    }
    out.sort();
    out
}

/// The management NIC's name and MAC.
pub fn pick(
    device: Option<&MgmtDevice>,
    nics: &[(String, String)],
) -> Result<(String, String), MgmtError> {
    let found = match device {
        Some(MgmtDevice::Name(n)) => nics.iter().find(|(name, _)| name == n),
        Some(MgmtDevice::Mac(m)) => nics.iter().find(|(_, mac)| mac.eq_ignore_ascii_case(m)),
        None => nics.first(),
    };
    found.cloned().ok_or_else(|| {
        let have: Vec<String> = nics.iter().map(|(n, m)| format!("{n} ({m})")).collect();
        MgmtError::NoDevice(format!(
            "wanted {device:?}; this machine has: {}",
            if have.is_empty() {
                "none".to_owned()
            } else {
                have.join(", ")
            }
        ))
    })
}

/// What a static `mgmt` put on NIC `name`: boot-contract state, not config.
pub fn boot_state(name: &str, mgmt: &Mgmt) -> Option<crate::model::BootState> {
    match mgmt {
        Mgmt::Static { address, gateway } => Some(crate::model::BootState {
            nic: name.parse().ok()?,
            address: *address,
            gateway: *gateway,
        }),
        Mgmt::Dhcp => None,
    }
}

/// Brings the management NIC up as `mgmt` says. `scratch` is a directory for udhcpc's hook.
pub fn bring_up(name: &str, mgmt: &Mgmt, scratch: &Path) -> Result<(), MgmtError> {
    match mgmt {
        Mgmt::Static { address, gateway } => {
            tracing::info!(
                "management: {address} on {name}{}",
                gateway
                    .map(|g| format!(", default via {g}"))
                    .unwrap_or_default()
            );
            mgmt_path::bring_up(name, address, *gateway)?;
            await_carrier(name);
            Ok(())
        }
        Mgmt::Dhcp if which("udhcpc") => {
            set_up(name)?;
            await_carrier(name);
            let script = scratch.join("udhcpc.script");
            write_script(&script)?;
            let script = script.to_string_lossy();
            // Up to 4 discovers 2 s apart at boot, then in the background either way (-b):
            // it keeps renewing the lease, or keeps asking for one.
            run(
                "udhcpc",
                &["-i", name, "-s", &script, "-t", "4", "-T", "2", "-b"],
            )
        }
        Mgmt::Dhcp => {
            // Their own hooks mark the lease's address with its lifetime; their routes may
            // look like config (proto boot): udhcpc, above, is the one the image ships.
            let clients: [(&str, &[&str]); 2] =
                [("dhclient", &["-nw", "-v"]), ("dhcpcd", &["-4", "-b"])];
            for (program, args) in clients {
                if which(program) {
                    let mut all: Vec<&str> = args.to_vec();
                    all.push(name);
                    return run(program, &all);
                }
            }
            Err(MgmtError::NoDhcpClient)
        }
    }
}

/// Waits (at most [`CARRIER_WAIT`]) for the link's carrier: until then the kernel drops
/// what the link sends (its qdisc is a no-op), and the first ARP or DHCP discover lost
/// costs a retry a second or two later.
fn await_carrier(name: &str) {
    let file = Path::new("/sys/class/net").join(name).join("carrier");
    let t = std::time::Instant::now();
    while t.elapsed() < CARRIER_WAIT {
        if std::fs::read_to_string(&file).is_ok_and(|c| c.trim() == "1") {
            tracing::debug!("{name}: carrier after {:?}", t.elapsed());
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    tracing::warn!("{name}: no carrier after {CARRIER_WAIT:?}; going on");
}

const CARRIER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn set_up(name: &str) -> Result<(), MgmtError> {
    mgmt_path::set_up(name)?;
    Ok(())
}

fn write_script(path: &Path) -> Result<(), MgmtError> {
    let err = |error| MgmtError::Script {
        path: path.display().to_string(),
        error,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    crate::store::atomic::write_file(path, UDHCPC_SCRIPT.as_bytes(), 0o755).map_err(err)
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_name_mac_or_first() {
        let nics = vec![
            ("ens3".to_owned(), "52:54:00:00:00:03".to_owned()),
            ("ens4".to_owned(), "52:54:00:00:00:04".to_owned()),
        ];
        assert_eq!(pick(None, &nics).expect("first").0, "ens3");
        let mac = MgmtDevice::Mac("52:54:00:00:00:04".into());
        assert_eq!(pick(Some(&mac), &nics).expect("by mac").0, "ens4");
        let e = pick(Some(&MgmtDevice::Name("eth9".into())), &nics).expect_err("absent");
        assert!(e.to_string().contains("ens3 (52:54:00:00:00:03)"), "{e}");
    }
}
