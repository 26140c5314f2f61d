//! A shared Ethernet segment between several VMs (a switch, an IXP's peering LAN): qemu's
//! socket netdev on a UDP multicast group on the host's loopback. Every frame one guest
//! sends reaches every guest on the group, its sender included (Linux ignores its own
//! looped frames; IPv6 DAD tells its own probes by their nonce).

/// One segment: a multicast group and port no other test uses.
#[derive(Debug, Clone)]
pub struct Lan {
    group: String,
}

/// A VM's NIC on a [`Lan`].
#[derive(Debug, Clone)]
pub struct LanNic {
    pub group: String,
    pub mac: String,
}

impl Lan {
    /// A fresh segment: an administratively scoped group (never routed off the host) on
    /// a UDP port that is free now, so parallel tests get segments of their own.
    pub fn new() -> Lan {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("a free UDP port on 127.0.0.1");
        Lan {
            group: format!("239.255.82.1:{port}"),
        }
    }

    pub fn nic(&self, mac: &str) -> LanNic {
        LanNic {
            group: self.group.clone(),
            mac: mac.into(),
        }
    }
}

impl Default for Lan {
    fn default() -> Lan {
        Lan::new()
    }
}

impl LanNic {
    /// qemu's `-nic` value. `localaddr` keeps the group on the loopback interface.
    pub fn qemu_arg(&self) -> String {
        format!(
            "socket,mcast={},localaddr=127.0.0.1,model=virtio-net-pci,mac={}",
            self.group, self.mac
        )
    }
}
