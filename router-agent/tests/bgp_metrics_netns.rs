//! The daemon's BGP metrics with a real BIRD: `router-agent daemon` in a namespace boots
//! from a `file://` store holding a `[bgp]` config (one peer's list in a store file),
//! reads BIRD every second into `metrics.prom` and the status line, and says so when
//! BIRD stops answering.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use support::bird::{wait, Bird};
use support::Netns;

const CONFIG: &str = r#"version = 1

[bgp]
asn = 64500
router_id = "192.0.2.254"

[[bgp.peer]]
name = "x1"
address = "198.18.0.1"
asn = 65001
description = "Peer X1"
allowed_prefixes_file = "x1.prefixes"
"#;

/// The daemon, stopped with SIGTERM on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn metrics_follow_bird() {
    let ns = Netns::new("bgpmetrics");
    let dir: PathBuf = std::env::temp_dir().join(format!("ra-bgp-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = dir.join("store");
    std::fs::create_dir_all(store.join("r1/files")).expect("store dir");
    std::fs::write(store.join("r1/config.toml"), CONFIG).expect("seed");
    std::fs::write(store.join("r1/files/x1.prefixes"), "185.1.0.0/16 le 24\n").expect("file");
    let conf = dir.join("bird.conf");
    std::fs::write(&conf, "router id 192.0.2.254;\nprotocol device {}\n").expect("write");
    let bird = Bird::start(&ns, &conf, &dir.join("bird.ctl"));
    let status = dir.join("status");
    let daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_router-agent"))
            .args(["daemon", "--netns", &ns.name, "--id", "r1"])
            .arg("--store")
            .arg(format!("file://{}", store.display()))
            .arg("--status-dir")
            .arg(&status)
            .args(["--cmdline", "/dev/null", "--bgp-interval", "1"])
            .env("ROUTER_AGENT_BIRD_CONF", &conf)
            .env("ROUTER_AGENT_BIRD_CTL", dir.join("bird.ctl"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("daemon.log")).expect("log"))
            .spawn()
            .expect("start the daemon"),
    );
    let metrics = status.join("metrics.prom");
    wait("the session in the metrics", || {
        let m = read(&metrics);
        m.contains("\nrouter_agent_bird_up 1\n")
            && m.contains("router_agent_bgp_session_established{session=\"p_x1\"} 0\n")
            && m.contains("description=\"Peer X1\"} 1\n")
            && m.contains(
                "router_agent_bgp_prefixes_imported{session=\"p_x1\",channel=\"ipv4\"} 0\n",
            )
    });
    assert!(
        read(&status.join("status")).contains("; bgp 0/1 established"),
        "{}",
        read(&status.join("status"))
    );
    assert!(
        read(&conf).contains("185.1.0.0/16{16,24}"),
        "the list came from the store's file"
    );

    drop(bird);
    wait("BIRD reported as not reachable", || {
        read(&metrics).contains("\nrouter_agent_bird_up 0\n")
            && read(&status.join("status")).contains("BIRD NOT REACHABLE")
    });
    assert!(!read(&metrics).contains("router_agent_bgp_session"));
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
