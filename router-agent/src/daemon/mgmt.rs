//! The management path, brought up before the store can be reached: the NIC chosen by
//! `router.mgmt=`/`BOOTIF=` (else the first Ethernet NIC), a static address or DHCP.
//! Uses `ip` and the image's DHCP client: this runs once, before the agent's own netlink
//! reconciler has a config to work from.

use std::path::Path;
use std::process::Command;

use super::bootargs::{Mgmt, MgmtDevice};

#[derive(Debug, thiserror::Error)]
pub enum MgmtError {
    #[error("no management interface: {0}")]
    NoDevice(String),
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("no DHCP client found (looked for dhclient, udhcpc, dhcpcd); use router.mgmt=ADDRESS/PREFIX,gw=IP")]
    NoDhcpClient,
}

fn run(program: &str, args: &[&str]) -> Result<(), MgmtError> {
    let command = format!("{program} {}", args.join(" "));
    tracing::info!("management: {command}");
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| MgmtError::Command {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(MgmtError::Command {
            command,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
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

/// Brings the management NIC up as `mgmt` says.
pub fn bring_up(name: &str, mgmt: &Mgmt) -> Result<(), MgmtError> {
    run("ip", &["link", "set", "dev", name, "up"])?;
    match mgmt {
        Mgmt::Static { address, gateway } => {
            run(
                "ip",
                &["address", "replace", &address.to_string(), "dev", name],
            )?;
            if let Some(gw) = gateway {
                let family = if gw.is_ipv4() { "-4" } else { "-6" };
                run(
                    "ip",
                    &[
                        family,
                        "route",
                        "replace",
                        "default",
                        "via",
                        &gw.to_string(),
                        "dev",
                        name,
                        "proto",
                        "static",
                    ],
                )?;
            }
            Ok(())
        }
        Mgmt::Dhcp => {
            let clients: [(&str, &[&str]); 3] = [
                ("dhclient", &["-1", "-v"]),
                ("udhcpc", &["-n", "-q", "-t", "5", "-i"]),
                ("dhcpcd", &["-1", "-4", "-w"]),
            ];
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
