//! `router-agent daemon` in a namespace against a `file://` store: boot applies the
//! store's config; hand changes with `ip` and `nft` are snapshotted; SIGTERM saves a change
//! made just before it; a fresh namespace booted from the store gets the same state.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{assert_same, assert_settles, run, without_link_local, Netns};

const CONFIG: &str = r#"version = 1

[[interface]]
name = "up0"
kind = "veth"
veth = { peer = "up1" }
addresses = ["192.0.2.1/24"]

[[interface]]
name = "up1"
kind = "veth"
veth = { peer = "up0" }

[[route]]
to = "198.51.100.0/24"
via = "192.0.2.254"

[firewall]
input = "drop"

[[firewall.rule]]
chain = "input"
protocol = "tcp"
dport = 22
action = "accept"
"#;

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(ns: &Netns, store: &Path, work: &Path) -> Daemon {
        let log = work.join(format!("{}.log", ns.name));
        let child = Command::new(env!("CARGO_BIN_EXE_router-agent"))
            .args(["daemon", "--netns", &ns.name, "--id", "r1"])
            .arg("--store")
            .arg(format!("file://{}", store.display()))
            .arg("--status-dir")
            .arg(work.join(format!("{}.status", ns.name)))
            .args(["--cmdline", "/dev/null", "--snapshot-interval", "0"])
            .args(["--poll-interval", "1", "-v"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the daemon");
        Daemon { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn status(&self, work: &Path, ns: &Netns) -> String {
        std::fs::read_to_string(work.join(format!("{}.status", ns.name)).join("status"))
            .unwrap_or_default()
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        run("kill", &["-TERM", &self.child.id().to_string()]);
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "daemon did not stop within 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn until(what: &str, d: &Daemon, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{what}: not within 20 s; daemon log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The router's status record in the `file://` store.
fn report(store: &Path) -> String {
    std::fs::read_to_string(store.join("r1/status.json")).unwrap_or_default()
}

/// `router-agent ARGS`' stdout; it must succeed.
fn agent(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_router-agent"))
        .args(args)
        .output()
        .expect("router-agent runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stored(store: &Path) -> String {
    std::fs::read_to_string(store.join("r1/config.toml")).unwrap_or_default()
}

#[test]
fn boot_change_by_hand_stop_and_boot_elsewhere() {
    let work = std::env::temp_dir().join(format!("ra-daemon-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let store = work.join("store");
    std::fs::create_dir_all(store.join("r1")).expect("store dir");
    std::fs::write(store.join("r1/config.toml"), CONFIG).expect("seed");

    let a = Netns::new("daemon-a");
    let d = Daemon::start(&a, &store, &work);
    until("boot applies the store's config", &d, || {
        d.status(&work, &a).starts_with("running")
    });
    let addrs = a.json(&["addr", "show", "dev", "up0"]).to_string();
    assert!(addrs.contains("192.0.2.1"), "{addrs}");
    until("a running status report in the store", &d, || {
        report(&store).contains("\"phase\":\"running\"")
    });
    assert!(a.nft("list ruleset").contains("tcp dport 22 accept"));

    a.sh("addr add 203.0.113.5/32 dev up1");
    until("an address added with ip is snapshotted", &d, || {
        stored(&store).contains("203.0.113.5/32")
    });
    a.nft("add rule inet router_agent input tcp dport 2222 accept");
    until("a rule added with nft is snapshotted", &d, || {
        stored(&store).contains("2222")
    });

    // A change right before SIGTERM: no time for the debounce, the final snapshot has it.
    a.sh("route add 10.77.0.0/16 via 192.0.2.254 proto static");
    let status = d.stop();
    assert!(status.success(), "exit status {status}");
    assert!(
        stored(&store).contains("10.77.0.0/16"),
        "{}",
        stored(&store)
    );

    let history = std::fs::read_dir(store.join("r1/history"))
        .expect("history")
        .count();
    assert!(history >= 4, "{history} history files");
    assert!(
        report(&store).contains("\"phase\":\"stopped\""),
        "{}",
        report(&store)
    );
    // The operator's view of it, from the same directory.
    let url = format!("file://{}", store.display());
    let ls = agent(&["store", "ls", &url]);
    assert!(
        ls.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("r1") && l.contains(" ok ")),
        "{ls}"
    );
    let log = agent(&["store", "log", &url, "r1"]);
    assert!(
        log.lines()
            .nth(1)
            .is_some_and(|l| l.contains("snapshot") && l.contains("+1 route")),
        "{log}"
    );

    // A fresh namespace booted from the store: the same state.
    let b = Netns::new("daemon-b");
    let d = Daemon::start(&b, &store, &work);
    until("the second router boots", &d, || {
        d.status(&work, &b).starts_with("running")
    });
    assert_settles(
        || without_link_local(a.snapshot()),
        || without_link_local(b.snapshot()),
        "namespace booted from the snapshot",
    );
    assert_same(
        &a.ruleset(),
        &b.ruleset(),
        "firewall booted from the snapshot",
    );
    assert!(d.stop().success());
    let _ = std::fs::remove_dir_all(&work);
}
