//! Real BIRD processes in network namespaces: a route server configured by
//! `router-agent apply --netns` and four clients with hand-written BIRD configs, all on one
//! peering LAN (a bridge in a namespace of its own). Each BIRD runs in the foreground with
//! its own config file and control socket under a temporary directory (never the system
//! service), and is killed when the test ends.
//!
//! ```text
//!   c1 192.0.2.1 AS10001 ─┐
//!   c2 192.0.2.2 AS10002 ─┤
//!   c3 192.0.2.3 AS10003 ─┼─ br0 ─ 192.0.2.254 rs AS64500
//!   c4 192.0.2.4 AS10004 ─┘
//! ```
//!
//! Timeouts only bound waits for BGP to converge; nothing asserts on elapsed time.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::bird::{wait, wait_or, Bird, Lab, RS_IP};
use support::{stderr, stdout};

/// c2's IRR list, in a file beside the config.
const C2_PREFIXES: &str = "# bgpq4 AS10002\n185.2.0.0/16 le 24\n185.9.0.0/24\n";

/// `extra_peer`: an unrelated change: a new peer, and c1's description.
fn rs_config(extra_peer: bool, raw: Option<&str>) -> String {
    let mut c = format!(
        r#"version = 1

[[interface]]
name = "ixp0"
kind = "physical"
addresses = ["{RS_IP}/24"]

[bgp]
asn = 64500
router_id = "{RS_IP}"
route_server = true

[bgp.blackhole]
next_hop_v4 = "192.0.2.66"

[bgp.rpki]
roa = [{{ prefix = "185.3.0.0/16", asn = 10003 }}]

[bgp.policy.default]
max_as_path = 5
rpki = "reject-invalid"
blackhole = true

[[bgp.peer]]
name = "c1"
address = "192.0.2.1"
asn = 10001
allowed_prefixes = "185.1.0.0/16+ 185.9.0.0/24 10.0.0.0/8+ 185.3.0.0/16+"

[[bgp.peer]]
name = "c2"
address = "192.0.2.2"
asn = 10002
allowed_prefixes_file = "c2.prefixes"

[[bgp.peer]]
name = "c3"
address = "192.0.2.3"
asn = 10003

[[bgp.peer]]
name = "c4"
address = "192.0.2.4"
asn = 10004
max_prefix_v4 = 5
"#
    );
    if extra_peer {
        c.push_str("\n[[bgp.peer]]\nname = \"c9\"\naddress = \"192.0.2.9\"\nasn = 10009\n");
        c = c.replacen(
            "asn = 10001\n",
            "asn = 10001\ndescription = \"Member One, renamed\"\n",
            1,
        );
    }
    if let Some(r) = raw {
        c = c.replacen(
            "route_server = true\n",
            &format!("route_server = true\nraw = \"\"\"\n{r}\n\"\"\"\n"),
            1,
        );
    }
    c
}

fn established(rs: &Bird, peers: &[&str]) -> bool {
    let out = rs.birdc(&["show", "protocols"]);
    peers.iter().all(|p| {
        out.lines()
            .any(|l| l.starts_with(&format!("p_{p} ")) && l.contains("Established"))
    })
}

/// The four clients, each with the routes it announces.
fn start_clients(lab: &Lab) -> (Bird, Bird, Bird, Bird) {
    // c1: a good route, two with export control, a bogon, a wrong next hop, an RPKI
    // invalid one, and one with GRACEFUL_SHUTDOWN that c2 also announces.
    let c1 = lab.start_client(
        1,
        10001,
        "  route 185.1.0.0/24 blackhole;
  route 185.1.1.0/24 blackhole { bgp_large_community.add((64500, 0, 10003)); };
  route 185.1.2.0/24 blackhole { bgp_large_community.add((64500, 0, 0)); bgp_large_community.add((64500, 1, 10002)); };
  route 10.0.0.0/24 blackhole;
  route 185.1.7.0/24 blackhole;
  route 185.3.1.0/24 blackhole;
  route 185.9.0.0/24 blackhole { bgp_community.add((65535, 0)); };
",
        "      if net = 185.1.7.0/24 then bgp_next_hop = 192.0.2.3;\n",
    );
    // c2: a blackhole /32, an over-long AS_PATH, a prefix outside its list, and the
    // GRACEFUL_SHUTDOWN alternative with a longer path.
    let c2 = lab.start_client(
        2,
        10002,
        "  route 185.2.0.0/24 blackhole;
  route 185.2.0.1/32 blackhole { bgp_community.add((65535, 666)); };
  route 185.2.9.0/24 blackhole;
  route 185.8.0.0/24 blackhole;
  route 185.9.0.0/24 blackhole;
",
        "      if net = 185.2.9.0/24 then {
        bgp_path.prepend(10002); bgp_path.prepend(10002); bgp_path.prepend(10002);
        bgp_path.prepend(10002); bgp_path.prepend(10002);
      }
      if net = 185.9.0.0/24 then bgp_path.prepend(10002);\n",
    );
    let c3 = lab.start_client(3, 10003, "  route 185.3.0.0/16 blackhole;\n", "");
    // c4 sends more than its limit of 5.
    let many: String = (0..8)
        .map(|i| format!("  route 185.4.{i}.0/24 blackhole;\n"))
        .collect();
    let _c4 = lab.start_client(4, 10004, &many, "");
    (c1, c2, c3, _c4)
}

/// The route server configured by the agent, and its four clients with their sessions up
/// and the first routes exchanged. Fields drop in order: the BIRDs before the lab.
struct RsLab {
    _c4: Bird,
    c3: Bird,
    c2: Bird,
    c1: Bird,
    rs: Bird,
    file: PathBuf,
    lab: Lab,
}

#[test]
fn route_server_with_real_bird() {
    let t = RsLab::start();
    t.filters_each_route_with_its_reason();
    t.status_and_show_read_the_sessions_and_the_config_back();
    t.unrelated_changes_reset_no_session();
    t.bad_lists_and_raw_text_touch_nothing();
    t.drain_announces_graceful_shutdown();
}

impl RsLab {
    fn start() -> RsLab {
        let lab = Lab::new(4);
        let rs = lab.start_rs();
        let file = lab.path("rs.toml");
        // BIRD's log goes to rs.log (shown when a wait times out); raw text round-trips too.
        std::fs::write(&file, rs_config(false, Some("log stderr all;"))).expect("write");
        std::fs::write(lab.path("c2.prefixes"), C2_PREFIXES).expect("write");

        let out = lab.agent("check", Some(&file));
        assert!(out.status.success(), "check: {}", stderr(&out));
        assert!(
            stdout(&out).contains("accepted by `bird -p`"),
            "{}",
            stdout(&out)
        );
        let out = lab.agent("apply", Some(&file));
        assert!(
            out.status.success(),
            "apply: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("BIRD reconfigured"),
            "{}",
            stderr(&out)
        );

        let (c1, c2, c3, _c4) = start_clients(&lab);
        wait("sessions c1..c3 established", || {
            established(&rs, &["c1", "c2", "c3"])
        });
        let t = RsLab {
            _c4,
            c3,
            c2,
            c1,
            rs,
            file,
            lab,
        };
        let (c1, c2, c3) = (&t.c1, &t.c2, &t.c3);
        wait_or(
            "c3 to learn c1's and c2's routes",
            || t.diag(),
            || {
                c3.has_route("185.1.0.0/24")
                    && c3.has_route("185.2.0.0/24")
                    && c3.has_route("185.9.0.0/24")
            },
        );
        wait_or(
            "c2 to learn the blackhole and export-controlled routes",
            || t.diag(),
            || {
                c2.has_route("185.1.2.0/24")
                    && c2.has_route("185.1.1.0/24")
                    && c1.has_route("185.2.0.1/32")
            },
        );
        t
    }

    /// The routing tables and BIRD's log, shown when a wait times out.
    fn diag(&self) -> String {
        format!(
            "rs:\n{}\nc1:\n{}\nc2:\n{}\nc3:\n{}\nrs log:\n{}",
            self.rs.birdc(&["show", "route", "all"]),
            self.c1.birdc(&["show", "route"]),
            self.c2.birdc(&["show", "route"]),
            self.c3.birdc(&["show", "route"]),
            std::fs::read_to_string(self.lab.path("rs.log")).unwrap_or_default()
        )
    }

    fn filters_each_route_with_its_reason(&self) {
        let (rs_bird, c1, c2, c3) = (&self.rs, &self.c1, &self.c2, &self.c3);
        // Route-server semantics: the RS's ASN not prepended, the next hop kept.
        let r = c3.learned("185.1.0.0/24");
        assert!(r.contains("BGP.as_path: 10001\n"), "c3 sees:\n{r}");
        assert!(r.contains("BGP.next_hop: 192.0.2.1"), "c3 sees:\n{r}");

        // Filtered on the route server, each with its reason, and sent to nobody.
        for (prefix, why) in [
            ("10.0.0.0/24", 2),
            ("185.1.7.0/24", 7),
            ("185.2.9.0/24", 4),
            ("185.3.1.0/24", 13),
            ("185.8.0.0/24", 8),
        ] {
            let r = rs_bird.route(prefix);
            assert!(
                r.contains(&format!("(64500, 1101, {why})")),
                "{prefix} on the route server, expected reason {why}:\n{r}"
            );
            for c in [&c1, &c2, &c3] {
                assert!(!c.has_route(prefix), "{prefix} was sent on");
            }
        }
        // The RPKI-valid route passes and is tagged valid.
        let r = rs_bird.route("185.3.0.0/16");
        assert!(r.contains("(64500, 1000, 1)"), "{r}");

        // Export control: not to AS10003; only to AS10002. The control communities are stripped.
        assert!(!c3.has_route("185.1.1.0/24"));
        assert!(!c3.has_route("185.1.2.0/24"));
        let r = c2.learned("185.1.2.0/24");
        assert!(
            !r.contains("(64500, 1,") && !r.contains("(64500, 0,"),
            "{r}"
        );

        // BLACKHOLE: the /32 goes on, to the blackhole next hop, with NO_EXPORT.
        let r = c1.learned("185.2.0.1/32");
        assert!(r.contains("BGP.next_hop: 192.0.2.66"), "{r}");
        assert!(r.contains("(65535,65281)"), "{r}");

        // GRACEFUL_SHUTDOWN: c1's shorter path loses to c2's longer one.
        let r = c3.learned("185.9.0.0/24");
        assert!(
            r.contains("BGP.as_path: 10002 10002\n"),
            "c3 should prefer c2's route:\n{r}"
        );

        // Max-prefix: c4's session is shut down.
        wait("c4's session to trip its limit", || {
            rs_bird
                .birdc(&["show", "protocols", "all", "p_c4"])
                .contains("limit")
        });
        wait("c4's routes to be withdrawn from c3", || {
            !c3.has_route("185.4.7.0/24")
        });
    }

    /// `status` lists the sessions with counts; `show` reads [bgp] back.
    fn status_and_show_read_the_sessions_and_the_config_back(&self) {
        let (lab, file) = (&self.lab, &self.file);
        // status lists the sessions with counts.
        let out = lab.agent("status", None);
        assert!(out.status.success(), "status: {}", stderr(&out));
        let text = stdout(&out);
        let c1_line = text
            .lines()
            .find(|l| l.starts_with("p_c1 "))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(c1_line.contains("Established"), "{text}");
        assert!(
            c1_line.split_whitespace().nth(4) == Some("7"),
            "c1 imported 7 routes:\n{text}"
        );

        // show reads [bgp] back, c2's list as the reference to its file; loaded again (beside
        // the file) it is the same model.
        let out = lab.agent("show", None);
        assert!(out.status.success(), "show: {}", stderr(&out));
        let shown = stdout(&out);
        assert!(
            shown.contains("allowed_prefixes_file = \"c2.prefixes\"")
                && !shown.contains("185.2.0.0"),
            "show:\n{shown}"
        );
        let shown_file = lab.path("shown.toml");
        std::fs::write(&shown_file, &shown).expect("write");
        let load = |f: &Path| {
            router_agent::config_file::load(f.to_str().expect("utf-8"))
                .unwrap_or_else(|e| panic!("{e}"))
                .bgp
        };
        assert_eq!(load(file), load(&shown_file), "show:\n{shown}");
    }

    fn unrelated_changes_reset_no_session(&self) {
        let (lab, file, rs_bird) = (&self.lab, &self.file, &self.rs);
        // Unrelated changes (a new peer, c1's description) reset no established session.
        let since = |b: &Bird| -> Vec<String> {
            b.birdc(&["show", "protocols"])
                .lines()
                .filter(|l| {
                    l.starts_with("p_c1 ") || l.starts_with("p_c2 ") || l.starts_with("p_c3 ")
                })
                .map(str::to_owned)
                .collect()
        };
        let before = since(rs_bird);
        std::fs::write(file, rs_config(true, None)).expect("write");
        let out = lab.agent("apply", Some(file));
        assert!(out.status.success(), "apply: {}", stderr(&out));
        assert!(
            stdout(&out).contains("+protocol bgp p_c9"),
            "{}",
            stdout(&out)
        );
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(before, since(rs_bird), "sessions were reset");
        assert!(
            rs_bird
                .birdc(&["show", "protocols", "all", "p_c1"])
                .contains("Member One, renamed"),
            "c1's new description is loaded"
        );
    }

    fn bad_lists_and_raw_text_touch_nothing(&self) {
        let (lab, file, rs_bird) = (&self.lab, &self.file, &self.rs);
        // A bad line in a list file: the error names the config's line and the file's.
        std::fs::write(lab.path("c2.prefixes"), "185.2.0.0/16\n185.2.0.0/99\n").expect("write");
        let out = lab.agent("check", Some(file));
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("rs.toml:") && err.contains("allowed_prefixes_file: c2.prefixes:2: "),
            "{err}"
        );
        std::fs::write(lab.path("c2.prefixes"), C2_PREFIXES).expect("write");

        // Text BIRD rejects: a clear error at the config's line, bird.conf and BIRD untouched.
        let conf_before = std::fs::read_to_string(lab.path("rs.conf")).expect("read");
        std::fs::write(file, rs_config(true, Some("protocol nonsense x {}"))).expect("write");
        let out = lab.agent("apply", Some(file));
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains("rs.toml:") && err.contains("bgp.raw"), "{err}");
        assert_eq!(
            conf_before,
            std::fs::read_to_string(lab.path("rs.conf")).expect("read")
        );
        assert!(established(rs_bird, &["c1", "c2", "c3"]));
    }

    fn drain_announces_graceful_shutdown(&self) {
        let (lab, c3) = (&self.lab, &self.c3);
        let conf_before = std::fs::read_to_string(lab.path("rs.conf")).expect("read");
        // Stopping: `bgp drain` (BIRD's ExecStop in the image, which stops BIRD before the
        // agent) announces GRACEFUL_SHUTDOWN on every route the route server sends.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_router-agent"))
            .args(["bgp", "drain", "--wait", "0"])
            .env("ROUTER_AGENT_BIRD_CONF", lab.path("rs.conf"))
            .env("ROUTER_AGENT_BIRD_CTL", lab.path("rs.ctl"))
            .output()
            .expect("run router-agent");
        assert!(out.status.success(), "drain: {}", stderr(&out));
        assert!(stdout(&out).contains("announced"), "{}", stdout(&out));
        wait_or(
            "c3 to see GRACEFUL_SHUTDOWN on c1's route",
            || self.diag(),
            || c3.learned("185.1.0.0/24").contains("(65535,0)"),
        );
        assert_eq!(
            conf_before,
            std::fs::read_to_string(lab.path("rs.conf")).expect("read"),
            "bird.conf keeps the configured text: the next start is without the community"
        );
    }
}
