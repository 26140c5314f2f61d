//! docs/alerts/router-agent.rules.yml: valid for `promtool check rules` (Debian's
//! `prometheus`), and every metric it names is one the agent exports.

use std::process::Command;

use router_agent::bgp::status::{Counts, Readout, Session};
use router_agent::daemon::status::{bgp_metrics, Status};

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/alerts/router-agent.rules.yml"
);

#[test]
fn promtool_accepts_the_rules() {
    let out = Command::new("promtool")
        .args(["check", "rules", RULES])
        .output()
        .expect("promtool (Debian package prometheus; scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "promtool check rules {RULES}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_rules_name_only_metrics_the_agent_exports() {
    let session = Session {
        name: "p1".into(),
        state: "up".into(),
        info: "Established".into(),
        bgp_state: "Established".into(),
        description: None,
        since: String::new(),
        channels: vec![("ipv4".into(), Counts::default())],
    };
    let exported =
        Status::default().metrics() + &bgp_metrics(Some(&Readout::Sessions(vec![session])));
    let rules = std::fs::read_to_string(RULES).expect("rules file");
    let mut named = 0;
    for (i, _) in rules.match_indices("router_agent_") {
        let name: String = rules[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            exported.contains(&format!("\n{name} ")) || exported.contains(&format!("\n{name}{{")),
            "{name} is in the rules but the agent exports no such metric:\n{exported}"
        );
        named += 1;
    }
    assert!(named >= 4, "the rules name {named} agent metrics");
}
