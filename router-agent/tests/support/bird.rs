//! BIRD processes for tests: each in a namespace, in the foreground with its own config
//! file and control socket (never the system service), killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{stderr, stdout, Netns};

/// A BIRD in a namespace, killed on drop.
pub struct Bird {
    child: Child,
    pub socket: PathBuf,
}

impl Bird {
    pub fn start(ns: &Netns, conf: &Path, socket: &Path) -> Bird {
        let out = Command::new("bird")
            .args(["-p", "-c"])
            .arg(conf)
            .output()
            .expect("bird is installed (scripts/setup.sh installs bird2)");
        assert!(
            out.status.success(),
            "bird -p {}: {}",
            conf.display(),
            stderr(&out)
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "bird", "-f", "-c"])
            .arg(conf)
            .arg("-s")
            .arg(socket)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(socket.with_extension("log")).expect("log file"))
            .spawn()
            .expect("start bird");
        let b = Bird {
            child,
            socket: socket.to_owned(),
        };
        wait("the BIRD control socket", || {
            b.try_birdc(&["show", "status"]).is_some()
        });
        b
    }

    pub fn try_birdc(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("birdc")
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .output()
            .ok()?;
        out.status.success().then(|| stdout(&out))
    }

    pub fn birdc(&self, args: &[&str]) -> String {
        self.try_birdc(args)
            .unwrap_or_else(|| panic!("birdc {args:?} failed"))
    }

    /// `show route for PREFIX all`; birdc exits 1 for "Network not found", which is an answer.
    pub fn route(&self, prefix: &str) -> String {
        self.route_from(prefix, &[])
    }

    /// What a client learned from the route server.
    pub fn learned(&self, prefix: &str) -> String {
        self.route_from(prefix, &["protocol", "to_rs"])
    }

    pub fn route_from(&self, prefix: &str, more: &[&str]) -> String {
        let out = Command::new("birdc")
            .arg("-s")
            .arg(&self.socket)
            .args(["show", "route", "for", prefix, "all"])
            .args(more)
            .output()
            .expect("run birdc");
        stdout(&out)
    }

    /// A route learned from the route server for exactly this prefix (not a covering one).
    pub fn has_route(&self, prefix: &str) -> bool {
        self.try_birdc(&["show", "route", prefix, "protocol", "to_rs"])
            .is_some_and(|t| t.lines().any(|l| l.starts_with(prefix)))
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait(what: &str, ok: impl FnMut() -> bool) {
    wait_or(what, String::new, ok)
}

/// Waits for `ok`; on a timeout, fails with what `diag` says about the state.
pub fn wait_or(what: &str, diag: impl Fn() -> String, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}\n{}",
            diag()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
