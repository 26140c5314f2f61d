//! Issue 15 finding 5, end to end: `router-agent daemon` in a namespace whose only path to
//! the store server is the veth its config manages. A store-side edit that moves the
//! address off that path cuts the router off: it is undone within the confirm window, the
//! address is back, the status says so and the store's history keeps the mark.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use router_store::{Access, GitStore, Server, ServerConfig};
use router_store_client::{ConfigStore, Expect, RouterId};
use support::{run, Netns};

fn config(addr: &str) -> String {
    format!("version = 1\n\n[[interface]]\nname = \"mg0\"\nkind = \"physical\"\naddresses = [\"{addr}\"]\n")
}

struct Kill(Child);

/// The host's end of the management veth, removed however the test ends.
struct HostLink(String);

impl Drop for HostLink {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_edit_that_drops_the_management_path_is_undone() {
    let ns = Netns::new("editc");
    let host = format!("ec{}", std::process::id() % 100_000);
    run(
        "ip",
        &[
            "link", "add", &host, "type", "veth", "peer", "name", "mg0", "netns", &ns.name,
        ],
    );
    let _host = HostLink(host.clone());
    run("ip", &["addr", "add", "10.231.7.1/24", "dev", &host]);
    run("ip", &["link", "set", &host, "up"]);
    // The management path as the boot made it (DHCP on a real router): the config keeps it.
    ns.ip(&["addr", "add", "10.231.7.2/24", "dev", "mg0"]);
    ns.ip(&["link", "set", "mg0", "up"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store_dir = dir.path().join("store");
    let (server, store) = runtime.block_on(async {
        let store = Arc::new(GitStore::open(&store_dir).await.expect("git store"));
        let server = Server::start(ServerConfig {
            listen: "10.231.7.1:0".parse().expect("addr"),
            store: store.clone(),
            access: Access::Open,
            tls: None,
            max_body: router_store::DEFAULT_MAX_BODY,
            boot: None,
            limits: router_store::ConnLimits::default(),
        })
        .await
        .expect("server starts");
        (server, store)
    });
    let id = RouterId::new("r1").expect("id");
    let seed = runtime
        .block_on(store.put(&id, &config("10.231.7.2/24"), &Expect::Absent, "seed"))
        .expect("seed");
    let status_dir = dir.path().join("status");
    let log = dir.path().join("daemon.log");
    let _daemon = Kill(
        Command::new(env!("CARGO_BIN_EXE_router-agent"))
            .args([
                "daemon",
                "--netns",
                &ns.name,
                "--id",
                "r1",
                "--store",
                &server.url(),
            ])
            .arg("--status-dir")
            .arg(&status_dir)
            .args(["--cmdline", "/dev/null", "--snapshot-interval", "0"])
            .args(["--poll-interval", "1", "--edit-confirm", "4", "-v"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("daemon starts"),
    );
    let status = || std::fs::read_to_string(status_dir.join("status")).unwrap_or_default();
    let until = |what: &str, secs: u64, f: &dyn Fn() -> bool| {
        let end = Instant::now() + Duration::from_secs(secs);
        while !f() {
            assert!(
                Instant::now() < end,
                "{what}: not within {secs} s; status {:?}; log:\n{}",
                status(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let has = |addr: &str| {
        ns.json(&["addr", "show", "dev", "mg0"])
            .to_string()
            .contains(addr)
    };
    until("running", 20, &|| {
        status().starts_with("running") && has("10.231.7.2")
    });
    let cut = runtime
        .block_on(store.put(
            &id,
            &config("10.232.0.2/30"),
            &Expect::Version(seed),
            "edit",
        ))
        .expect("edit");
    until("the edit applied", 10, &|| has("10.232.0.2"));
    until("the edit undone", 20, &|| status().contains("undone"));
    assert!(has("10.231.7.2") && !has("10.232.0.2"), "the path is back");
    assert!(
        status().contains(&format!("store version {cut} undone")),
        "{}",
        status()
    );
    let metrics = std::fs::read_to_string(status_dir.join("metrics.prom")).unwrap_or_default();
    assert!(
        metrics.contains("router_agent_store_edits_undone_total 1"),
        "{metrics}"
    );
    until("marked in history", 10, &|| {
        runtime
            .block_on(store.history(&id))
            .expect("history")
            .iter()
            .any(|e| {
                e.message
                    .contains(&format!("store version {cut} undone by r1"))
            })
    });
}
