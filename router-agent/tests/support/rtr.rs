//! An RPKI-to-router cache (RFC 8210) for tests: StayRTR serving ROAs from a JSON file in
//! a namespace, killed on drop. StayRTR is Debian's `stayrtr` package.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::bird::wait;
use super::Netns;

pub struct Rtr {
    child: Child,
    vrps: PathBuf,
}

/// One ROA as StayRTR's JSON has it.
pub struct Roa<'a> {
    pub prefix: &'a str,
    pub max_length: u8,
    pub asn: u32,
}

fn json(roas: &[Roa]) -> String {
    let list: Vec<String> = roas
        .iter()
        .map(|r| {
            format!(
                r#"{{"prefix":"{}","maxLength":{},"asn":"AS{}"}}"#,
                r.prefix, r.max_length, r.asn
            )
        })
        .collect();
    format!(
        r#"{{"metadata":{{"generated":1700000000,"counts":{}}},"roas":[{}]}}"#,
        roas.len(),
        list.join(",")
    )
}

impl Rtr {
    /// Serves `roas` on 127.0.0.1:`port` inside `ns`, re-reading them every second; returns
    /// once the port accepts connections.
    pub fn start(ns: &Netns, dir: &Path, port: u16, roas: &[Roa]) -> Rtr {
        assert!(
            Command::new("stayrtr").arg("-version").output().is_ok(),
            "the RTR test needs StayRTR: apt-get install stayrtr (scripts/setup.sh)"
        );
        let vrps = dir.join("vrps.json");
        std::fs::write(&vrps, json(roas)).expect("write vrps.json");
        let bind = format!("127.0.0.1:{port}");
        let child = Command::new("ip")
            .args([
                "netns", "exec", &ns.name, "stayrtr", "-bind", &bind, "-cache",
            ])
            .arg(&vrps)
            .args([
                "-checktime=false",
                "-refresh",
                "1",
                "-protocol",
                "1",
                "-metrics.addr",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stayrtr.log")).expect("log file"))
            .spawn()
            .expect("start stayrtr via ip netns exec");
        let rtr = Rtr { child, vrps };
        let sport = format!("sport = :{port}");
        wait("StayRTR to listen", || {
            Command::new("ip")
                .args(["netns", "exec", &ns.name, "ss", "-Hltn", &sport])
                .output()
                .is_ok_and(|o| !o.stdout.is_empty())
        });
        rtr
    }

    /// Replaces the ROAs; StayRTR notices within a second and notifies its routers.
    pub fn set(&self, roas: &[Roa]) {
        let tmp = self.vrps.with_extension("tmp");
        std::fs::write(&tmp, json(roas)).expect("write vrps.json");
        std::fs::rename(&tmp, &self.vrps).expect("rename vrps.json");
    }
}

impl Drop for Rtr {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
