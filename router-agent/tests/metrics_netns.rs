//! The exporter against a real Prometheus (Debian's `prometheus`): the daemon in a router
//! namespace serves /metrics on 0.0.0.0:9101; its config's firewall accepts that port from
//! the management network only. Prometheus in the management namespace scrapes it every
//! second (and loads docs/alerts/router-agent.rules.yml) and answers the query
//! `router_agent_degraded`; a client on the LAN side gets nothing (dropped, not refused).
//!
//! ```text
//!  client 192.168.1.10 ── lan0 [router] mgmt0 ── 10.99.0.10 Prometheus
//!                   192.168.1.1        10.99.0.1
//! ```

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{run, Netns};

const CONFIG: &str = r#"version = 1

[[interface]]
name = "lan0"
kind = "physical"
addresses = ["192.168.1.1/24"]

[[interface]]
name = "mgmt0"
kind = "physical"
addresses = ["10.99.0.1/24"]

[firewall]
input = "drop"

[[firewall.rule]]
chain = "input"
state = ["established", "related"]
action = "accept"

[[firewall.rule]]
chain = "input"
protocol = "tcp"
dport = 9101
source = "10.99.0.0/24"
action = "accept"
comment = "Prometheus from the management network"
"#;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn exec(ns: &Netns, args: &[&str]) -> Output {
    let mut full = vec!["netns", "exec", &ns.name];
    full.extend_from_slice(args);
    Command::new("ip")
        .args(&full)
        .output()
        .expect("ip netns exec")
}

fn link(router: &Netns, side: &str, peer: &Netns, address: &str) {
    run(
        "ip",
        &[
            "link",
            "add",
            side,
            "netns",
            &router.name,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &peer.name,
        ],
    );
    peer.ip(&["addr", "add", address, "dev", "eth0"]);
    peer.ip(&["link", "set", "eth0", "up"]);
}

fn daemon(router: &Netns, work: &Path) -> Killed {
    let store = work.join("store");
    std::fs::create_dir_all(store.join("r1")).expect("store dir");
    std::fs::write(store.join("r1/config.toml"), CONFIG).expect("seed");
    let child = Command::new(env!("CARGO_BIN_EXE_router-agent"))
        .args(["daemon", "--netns", &router.name, "--id", "r1"])
        .arg(format!("--store=file://{}", store.display()))
        .arg(format!("--status-dir={}", work.join("status").display()))
        .args(["--cmdline", "/dev/null", "--snapshot-interval", "0"])
        .args(["--metrics-listen", "0.0.0.0:9101", "-v"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("daemon.log")).expect("log"))
        .spawn()
        .expect("start the daemon");
    Killed(child)
}

fn prometheus(mgmt: &Netns, work: &Path) -> Killed {
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/alerts/router-agent.rules.yml"
    );
    let config = work.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [\"{rules}\"]\n\
             scrape_configs:\n  - job_name: router\n    static_configs: [{{targets: [\"10.99.0.1:9101\"]}}]\n"
        ),
    )
    .expect("prometheus.yml");
    let child = Command::new("ip")
        .args(["netns", "exec", &mgmt.name, "prometheus"])
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            work.join("tsdb").display()
        ))
        .arg("--web.listen-address=127.0.0.1:9090")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("prometheus.log")).expect("log"))
        .spawn()
        .expect("prometheus (Debian package prometheus; scripts/setup.sh installs it)");
    Killed(child)
}

/// The value Prometheus' HTTP API answers for `query`, once it has one.
fn query(mgmt: &Netns, query: &str) -> Option<String> {
    let url = format!("http://127.0.0.1:9090/api/v1/query?query={query}");
    let out = exec(mgmt, &["curl", "-sf", "--max-time", "2", &url]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let value = v["data"]["result"].get(0)?["value"].get(1)?.as_str()?;
    Some(value.to_owned())
}

#[test]
fn prometheus_scrapes_the_agent_from_the_management_network_only() {
    let router = Netns::new("met-r");
    let client = Netns::new("met-c");
    let mgmt = Netns::new("met-m");
    link(&router, "lan0", &client, "192.168.1.10/24");
    link(&router, "mgmt0", &mgmt, "10.99.0.10/24");
    let work = tempfile::tempdir().expect("tempdir");
    let _daemon = daemon(&router, work.path());
    let _prometheus = prometheus(&mgmt, work.path());

    let deadline = Instant::now() + Duration::from_secs(90);
    let degraded = loop {
        if let Some(v) = query(&mgmt, "router_agent_degraded") {
            break v;
        }
        let logs = || {
            let read = |f: &str| std::fs::read_to_string(work.path().join(f)).unwrap_or_default();
            format!(
                "daemon:\n{}\nprometheus:\n{}",
                read("daemon.log"),
                read("prometheus.log")
            )
        };
        assert!(
            Instant::now() < deadline,
            "no router_agent_degraded in Prometheus\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(degraded, "0", "the store's config applied");
    assert_eq!(query(&mgmt, "up").as_deref(), Some("1"));
    // The alert rules loaded into this Prometheus (a bad file would have stopped it).
    let rules = exec(
        &mgmt,
        &["curl", "-sf", "http://127.0.0.1:9090/api/v1/rules"],
    );
    assert!(
        String::from_utf8_lossy(&rules.stdout).contains("RouterAgentDegraded"),
        "rules: {}",
        String::from_utf8_lossy(&rules.stdout)
    );

    // From the LAN: the listener is bound on every address, the firewall drops the SYN.
    let lan = exec(
        &client,
        &[
            "curl",
            "-s",
            "--max-time",
            "3",
            "http://192.168.1.1:9101/metrics",
        ],
    );
    assert_eq!(
        lan.status.code(),
        Some(28),
        "curl from the LAN: expected a timeout (dropped), got {:?} {}",
        lan.status,
        String::from_utf8_lossy(&lan.stdout)
    );
    // The same listener answers the management network (not a dead exporter).
    let ok = exec(
        &mgmt,
        &[
            "curl",
            "-sf",
            "--max-time",
            "3",
            "http://10.99.0.1:9101/metrics",
        ],
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("\nrouter_agent_degraded 0\n"));
}
