//! BIRD processes for tests: each in a namespace, in the foreground with its own config
//! file and control socket (never the system service), killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{run, stderr, stdout, Netns};

/// The route server's address on the peering LAN.
pub const RS_IP: &str = "192.0.2.254";

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

/// A peering LAN: a bridge in a namespace of its own, the route server's namespace
/// (`ixp0`, address left to the config) and `n` clients' (`ixp0`, 192.0.2.i/24).
pub struct Lab {
    _lan: Netns,
    pub rs: Netns,
    pub clients: Vec<Netns>,
    pub dir: PathBuf,
}

impl Lab {
    pub fn new(n: usize) -> Lab {
        let lan = Netns::new("bgplan");
        lan.sh("link add br0 type bridge");
        lan.sh("link set br0 up");
        let dir = std::env::temp_dir().join(format!("ra-bgp-{}-{}", std::process::id(), lan.name));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let attach = |ns: &Netns, ifname: &str, idx: usize| {
            let peer = format!("lan{idx}");
            run(
                "ip",
                &[
                    "-n", &lan.name, "link", "add", &peer, "type", "veth", "peer", "name", ifname,
                    "netns", &ns.name,
                ],
            );
            lan.ip(&["link", "set", &peer, "master", "br0", "up"]);
        };
        let rs = Netns::new("bgprs");
        attach(&rs, "ixp0", 0);
        let clients: Vec<Netns> = (1..=n)
            .map(|i| {
                let c = Netns::new(&format!("bgpc{i}"));
                attach(&c, "ixp0", i);
                c.ip(&["addr", "add", &format!("192.0.2.{i}/24"), "dev", "ixp0"]);
                c.ip(&["link", "set", "ixp0", "up"]);
                c
            })
            .collect();
        Lab {
            _lan: lan,
            rs,
            clients,
            dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs the agent against the route server's namespace and BIRD.
    pub fn agent(&self, sub: &str, file: Option<&Path>) -> std::process::Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_router-agent"));
        cmd.arg(sub);
        if sub != "status" && sub != "check" {
            cmd.args(["--netns", &self.rs.name]);
        }
        if let Some(f) = file {
            cmd.arg(f);
        }
        cmd.env("ROUTER_AGENT_BIRD_CONF", self.path("rs.conf"))
            .env("ROUTER_AGENT_BIRD_CTL", self.path("rs.ctl"))
            .output()
            .expect("run router-agent")
    }

    pub fn start_rs(&self) -> Bird {
        let conf = self.path("rs.conf");
        std::fs::write(&conf, format!("router id {RS_IP};\nprotocol device {{}}\n"))
            .expect("write");
        Bird::start(&self.rs, &conf, &self.path("rs.ctl"))
    }

    pub fn start_client(&self, i: usize, asn: u32, statics: &str, export: &str) -> Bird {
        let text = format!(
            "router id 192.0.2.{i};
protocol device {{}}
protocol static s4 {{
  ipv4;
{statics}}}
protocol bgp to_rs {{
  local as {asn};
  neighbor {RS_IP} as 64500;
  ipv4 {{
    import all;
    export filter {{
      if source != RTS_STATIC then reject;
{export}      accept;
    }};
  }};
}}
"
        );
        self.start_client_text(i, &text)
    }

    /// Client `i` with a whole BIRD config of the caller's (its session must be `to_rs`).
    pub fn start_client_text(&self, i: usize, text: &str) -> Bird {
        let conf = self.path(&format!("c{i}.conf"));
        std::fs::write(&conf, text).expect("write");
        Bird::start(
            &self.clients[i - 1],
            &conf,
            &self.path(&format!("c{i}.ctl")),
        )
    }

    /// Writes `toml` as rs.toml (and `files` beside it) and applies it; fails with the
    /// agent's output when it refuses.
    pub fn apply_rs(&self, toml: &str, files: &[(&str, &str)]) {
        let file = self.path("rs.toml");
        std::fs::write(&file, toml).expect("write");
        for (name, text) in files {
            std::fs::write(self.path(name), text).expect("write");
        }
        let out = self.agent("apply", Some(&file));
        assert!(
            out.status.success(),
            "apply: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
