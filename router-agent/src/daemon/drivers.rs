//! NIC drivers loaded by the agent itself at boot, so that it need not wait for udev's
//! coldplug of every device (3 s in a small TCG VM) before it can reach its store: the
//! network devices in sysfs that no driver has bound yet, their modaliases handed to one
//! `modprobe -a`. udev still runs its coldplug; loading a module twice is a no-op.

use std::path::Path;

/// PCI class 0x02: network controllers.
const PCI_NETWORK_CLASS: &str = "0x02";
/// virtio device id 1: a network card (virtio_pci binds the PCI function, then
/// virtio_net binds the virtio device it creates: two rounds).
const VIRTIO_NET_DEVICE: &str = "0x0001";
const ROUNDS: usize = 3;

/// The modaliases of network devices under `sys` (a sysfs root) with no driver bound.
pub fn unbound_network_aliases(sys: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (bus, attr, prefix) in [
        ("pci", "class", PCI_NETWORK_CLASS),
        ("virtio", "device", VIRTIO_NET_DEVICE),
    ] {
        let Ok(entries) = std::fs::read_dir(sys.join("bus").join(bus).join("devices")) else {
            continue;
        };
        for e in entries.flatten() {
            let dev = e.path();
            let read = |f: &str| std::fs::read_to_string(dev.join(f)).ok();
            let is_network = read(attr).is_some_and(|v| v.trim().starts_with(prefix));
            if is_network && !dev.join("driver").exists() {
                if let Some(alias) = read("modalias") {
                    out.push(alias.trim().to_owned());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Loads the drivers of the network devices that have none, in up to [`ROUNDS`] rounds.
/// Failures are logged, never fatal: udev's coldplug loads them too, later.
pub fn load_network_drivers(sys: &Path) {
    let mut tried: Vec<String> = Vec::new();
    for _ in 0..ROUNDS {
        let aliases: Vec<String> = unbound_network_aliases(sys)
            .into_iter()
            .filter(|a| !tried.contains(a))
            .collect();
        if aliases.is_empty() {
            return;
        }
        tracing::debug!("loading NIC drivers for {}", aliases.join(" "));
        match crate::kernel::modules::modprobe(&aliases, true) {
            Ok(s) if s.success() => {}
            Ok(s) => tracing::debug!("modprobe for NIC drivers: {s} (udev will try too)"),
            Err(e) => {
                tracing::warn!("modprobe for NIC drivers: {e} (waiting for udev instead)");
                return;
            }
        }
        tried.extend(aliases);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(sys: &Path, bus: &str, name: &str, attrs: &[(&str, &str)], bound: bool) {
        let dir = sys.join("bus").join(bus).join("devices").join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (k, v) in attrs {
            std::fs::write(dir.join(k), format!("{v}\n")).expect("write");
        }
        if bound {
            std::fs::create_dir_all(dir.join("driver")).expect("mkdir");
        }
    }

    #[test]
    fn finds_unbound_network_devices_only() {
        let sys = std::env::temp_dir().join(format!("ra-drivers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&sys);
        let nic = [
            ("class", "0x020000"),
            ("modalias", "pci:v00001AF4d00001000"),
        ];
        device(&sys, "pci", "0000:00:03.0", &nic, false);
        let bound = [
            ("class", "0x020000"),
            ("modalias", "pci:v00008086d0000100E"),
        ];
        device(&sys, "pci", "0000:00:04.0", &bound, true);
        let disk = [
            ("class", "0x010000"),
            ("modalias", "pci:v00001AF4d00001001"),
        ];
        device(&sys, "pci", "0000:00:05.0", &disk, false);
        let vnet = [
            ("device", "0x0001"),
            ("modalias", "virtio:d00000001v00001AF4"),
        ];
        device(&sys, "virtio", "virtio1", &vnet, false);
        let rng = [
            ("device", "0x0004"),
            ("modalias", "virtio:d00000004v00001AF4"),
        ];
        device(&sys, "virtio", "virtio2", &rng, false);
        assert_eq!(
            unbound_network_aliases(&sys),
            ["pci:v00001AF4d00001000", "virtio:d00000001v00001AF4"]
        );
        std::fs::remove_dir_all(&sys).expect("cleanup");
    }

    #[test]
    fn no_sysfs_means_nothing_to_load() {
        assert!(unbound_network_aliases(Path::new("/nonexistent")).is_empty());
    }
}
