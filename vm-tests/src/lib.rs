//! A harness that boots the real router image under qemu and drives it: the host runs the
//! store server; each VM gets a management NIC on qemu's user network (the host is
//! 10.0.2.2) and point-to-point links to other VMs (qemu socket netdevs); the console
//! (ttyS0) is logged for failure reports; a root shell on a second serial port (ttyS1,
//! without kernel or journal output) runs commands.
//!
//! TCG only, unless kvm_intel/kvm_amd is loaded: /dev/kvm exists on these machines but a
//! guest hangs on it. Every wait is bounded.

pub mod image;
pub mod lan;
pub mod netboot;
pub mod postmortem;
pub mod state;
pub mod store;
pub mod vm;

pub use image::Image;
pub use lan::{Lan, LanNic};
pub use postmortem::Postmortem;
pub use store::StoreServer;
pub use vm::{BootFrom, Link, Vm, VmSpec};

/// A free TCP port on 127.0.0.1 (bound, then released: good enough for tests that run
/// their servers at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A scratch directory for one test, removed when it passes.
#[derive(Debug)]
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("vmt-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
