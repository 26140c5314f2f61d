//! Commit-confirm with a real BIRD in a namespace: `apply --confirm` reconfigures BIRD
//! with `timeout`; unconfirmed, the waiter puts bird.conf and BIRD's running config back
//! with the interfaces; `confirm` has BIRD confirm too; and with the waiter gone, BIRD
//! still goes back by itself.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::bird::{wait, Bird};
use support::{stderr, stdout, Netns};

fn config(addr: &str, peers: &[&str]) -> String {
    let mut c = format!(
        "version = 1\n\n[[interface]]\nname = \"v0\"\nkind = \"veth\"\nveth = {{ peer = \"v1\" }}\naddresses = [\"{addr}\"]\n\n[[interface]]\nname = \"v1\"\nkind = \"veth\"\nveth = {{ peer = \"v0\" }}\n\n[bgp]\nasn = 64500\nrouter_id = \"192.0.2.254\"\n"
    );
    for (i, p) in peers.iter().enumerate() {
        c.push_str(&format!(
            "\n[[bgp.peer]]\nname = \"{p}\"\naddress = \"198.18.0.{}\"\nasn = {}\n",
            i + 1,
            65001 + i
        ));
    }
    c
}

struct Setup {
    ns: Netns,
    dir: PathBuf,
    bird: Bird,
}

impl Setup {
    fn new() -> Setup {
        let ns = Netns::new("bgpconfirm");
        let dir = std::env::temp_dir().join(format!("ra-bgp-confirm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("status")).expect("dir");
        let conf = dir.join("bird.conf");
        std::fs::write(&conf, "router id 192.0.2.254;\nprotocol device {}\n").expect("write");
        let bird = Bird::start(&ns, &conf, &dir.join("bird.ctl"));
        Setup { ns, dir, bird }
    }

    fn agent(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_router-agent"))
            .args(args)
            .env("ROUTER_AGENT_BIRD_CONF", self.dir.join("bird.conf"))
            .env("ROUTER_AGENT_BIRD_CTL", self.dir.join("bird.ctl"))
            .output()
            .expect("run router-agent");
        assert!(
            out.status.success(),
            "router-agent {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        out
    }

    fn apply(&self, name: &str, text: &str, confirm: Option<&str>) -> Output {
        let file = self.dir.join(name);
        std::fs::write(&file, text).expect("write");
        let status = self.status();
        let mut args = vec!["apply", "--netns", &self.ns.name, "--status-dir", &status];
        if let Some(c) = confirm {
            args.extend(["--confirm", c]);
        }
        let file = file.to_str().expect("utf-8 path").to_owned();
        args.push(&file);
        self.agent(&args)
    }

    fn status(&self) -> String {
        self.dir.join("status").to_str().expect("utf-8").to_owned()
    }

    fn conf(&self) -> String {
        std::fs::read_to_string(self.dir.join("bird.conf")).expect("bird.conf")
    }

    /// Whether BIRD runs the protocol of this peer.
    fn runs(&self, peer: &str) -> bool {
        self.bird
            .birdc(&["show", "protocols"])
            .lines()
            .any(|l| l.starts_with(&format!("p_{peer} ")))
    }

    fn has_addr(&self, addr: &str) -> bool {
        self.ns
            .json(&["addr", "show", "dev", "v0"])
            .to_string()
            .contains(addr)
    }

    fn pending(&self) -> PathBuf {
        Path::new(&self.status()).join("confirm-pending")
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn bird_follows_commit_confirm() {
    let s = Setup::new();
    let a = config("192.0.2.1/24", &["a1"]);
    let b = config("198.51.100.1/24", &["a1", "b1"]);
    s.apply("a.toml", &a, None);
    assert!(s.runs("a1"));
    let conf_a = s.conf();

    // Unconfirmed: interfaces, bird.conf and BIRD all go back together.
    let out = s.apply("b.toml", &b, Some("3"));
    assert!(
        stderr(&out).contains("goes back by itself in 3 s"),
        "{}",
        stderr(&out)
    );
    assert!(s.runs("b1") && s.has_addr("198.51.100.1"));
    wait("the rollback", || !s.pending().exists());
    let result = std::fs::read_to_string(Path::new(&s.status()).join("confirm-result"))
        .expect("the waiter's result");
    assert!(
        result.contains("the config before the apply is back"),
        "{result}"
    );
    assert!(!s.runs("b1") && s.runs("a1"), "BIRD runs A again");
    assert_eq!(s.conf(), conf_a, "bird.conf is A's again");
    assert!(s.has_addr("192.0.2.1") && !s.has_addr("198.51.100.1"));

    // Confirmed: BIRD confirms too, so its own timer does not take B away.
    s.apply("b.toml", &b, Some("3"));
    s.agent(&["confirm", "--status-dir", &s.status()]);
    std::thread::sleep(Duration::from_secs(5));
    assert!(s.runs("b1"), "BIRD kept the confirmed config");
    assert!(s.has_addr("198.51.100.1"));
    let conf_b = s.conf();

    // The waiter gone (its mark removed by hand): BIRD goes back by itself at its timeout.
    s.apply("a.toml", &a, Some("2"));
    assert!(!s.runs("b1"));
    std::fs::remove_file(s.pending()).expect("remove the mark");
    wait("BIRD's own undo", || s.runs("b1"));
    assert_ne!(
        s.conf(),
        conf_b,
        "only BIRD went back; the file is the agent's to restore"
    );
}
