//! A booted image scraped by a real Prometheus (Debian's `prometheus`) on the host: the
//! agent's exporter on the static management address (the default, port 9101), reached
//! through a qemu host forward; the query `router_agent_degraded` answers 0, and 1 once a
//! store-side edit the router refuses arrives.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use router_agent::store::{Expect, RouterId};
use vm_tests::{free_port, Image, Postmortem, Scratch, StoreServer, Vm, VmSpec};

const GOOD: &str = r#"version = 1
hostname = "r5"

[[interface]]
name = "svc"
kind = "dummy"
addresses = ["203.0.113.9/32"]
"#;

/// Valid TOML the agent refuses: a VLAN on a parent that does not exist.
const BAD: &str = r#"version = 1
hostname = "r5"

[[interface]]
name = "svc.9"
kind = "vlan"
vlan = { parent = "nope", id = 9 }
"#;

struct Prometheus {
    child: Child,
    api: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(work: &Scratch, target: &str) -> Prometheus {
        let port = free_port();
        let config = work.path("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: router\n    \
                 static_configs: [{{targets: [\"{target}\"]}}]\n"
            ),
        )
        .expect("prometheus.yml");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.path("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.path("prometheus.log")).expect("log"))
            .spawn()
            .expect("prometheus (Debian package prometheus; scripts/setup.sh installs it)");
        Prometheus {
            child,
            api: format!("http://127.0.0.1:{port}/api/v1/query?query="),
        }
    }

    fn query(&self, q: &str) -> Option<String> {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "2", &format!("{}{q}", self.api)])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(
            v["data"]["result"].get(0)?["value"]
                .get(1)?
                .as_str()?
                .to_owned(),
        )
    }

    /// Waits (bounded) until `q` answers `want`; the last answer otherwise.
    fn until(&self, q: &str, want: &str, limit: Duration) -> Option<String> {
        let t = Instant::now();
        loop {
            let got = self.query(q);
            if got.as_deref() == Some(want) || t.elapsed() > limit {
                return got;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_a_booted_router() {
    let image = Image::find();
    let work = Scratch::new("prometheus");
    let store = StoreServer::start(&work.path("store"), free_port());
    let mut report = Postmortem::new(&store);
    let client = store.client();
    let id = RouterId::new("r5").expect("id");
    let v1 = client
        .put(&id, GOOD, &Expect::Absent, "good")
        .await
        .expect("seed");
    let mut spec = VmSpec::new("r5", 15);
    spec.append = format!(
        "router.store={} router.id=r5 router.mgmt=10.0.2.15/24,gw=10.0.2.2,mac={}",
        store.guest_url(),
        spec.mgmt_mac
    );
    let metrics_port = free_port();
    spec.hostfwd.push((metrics_port, 9101));
    let mut vm = Vm::boot(spec, &image, &work.0);
    report.watch(&vm);
    vm.await_running(Duration::from_secs(120));

    let prometheus = Prometheus::start(&work, &format!("127.0.0.1:{metrics_port}"));
    let limit = Duration::from_secs(60);
    let log = || std::fs::read_to_string(work.path("prometheus.log")).unwrap_or_default();
    assert_eq!(
        prometheus
            .until("router_agent_degraded", "0", limit)
            .as_deref(),
        Some("0"),
        "Prometheus: {}",
        log()
    );
    assert_eq!(prometheus.query("up").as_deref(), Some("1"));

    client
        .put(&id, BAD, &Expect::Version(v1), "bad push")
        .await
        .expect("bad push");
    assert_eq!(
        prometheus
            .until("router_agent_degraded", "1", limit)
            .as_deref(),
        Some("1"),
        "the refused edit as Prometheus sees it; router: {}",
        vm.sh("router-agent status")
    );
    vm.kill();
}
