//! What the daemon tells operators: a one-line status and Prometheus metrics (textfile
//! format), rewritten on every change; BIRD's sessions ([`bgp_metrics`]) come from a
//! periodic readout beside it.

use router_model::human::prometheus_label as label;
use std::fmt::Write;

use crate::bgp::Readout;
use crate::store::status::{LastApply, Owned};
use crate::store::Version;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Starting,
    /// No store answered yet; what it is waiting for.
    WaitingForStore(String),
    /// Running the store's current config.
    Running,
    /// Running an older version: the newest was refused (why).
    Degraded(String),
    /// No version in the store could be applied; the router runs what it had.
    Failed(String),
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counters {
    pub applies: u64,
    pub apply_failures: u64,
    pub snapshots: u64,
    pub snapshot_failures: u64,
    pub conflicts: u64,
    pub store_edits: u64,
    /// Store-side edits confirmed: the store answered within the confirm window.
    pub edits_confirmed: u64,
    /// Store-side edits undone: the store did not answer within the confirm window.
    pub edits_undone: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub id: String,
    pub store: String,
    pub phase: Phase,
    /// The store version the running config came from (or was last saved as).
    pub running_version: Option<Version>,
    /// The store's current version as last seen.
    pub store_version: Option<Version>,
    /// A snapshot waits for the store.
    pub pending_snapshot: bool,
    pub last_error: Option<String>,
    pub counters: Counters,
    /// The last apply (of a store version, at boot or after an edit).
    pub last_apply: Option<LastApply>,
    /// What the config last applied makes the agent own.
    pub owned: Owned,
}

impl Status {
    /// An apply of `origin` (`ID@VERSION`) that took `took`; what it owns, if it worked.
    pub fn record_apply(
        &mut self,
        origin: &str,
        took: std::time::Duration,
        ok: bool,
        valid: &crate::model::ValidConfig,
    ) {
        self.last_apply = Some(LastApply {
            unix_time: crate::store::status::unix_now(),
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            version: origin.split_once('@').map(|(_, v)| v.to_owned()),
            ok,
        });
        if ok {
            let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
            self.owned = Owned {
                routes: count(valid.state.routes.len()),
                links: count(valid.state.links.len()),
                rules: count(valid.state.rules.len()),
            };
        }
    }

    pub fn line(&self) -> String {
        let phase = match &self.phase {
            Phase::Starting => "starting".to_owned(),
            Phase::WaitingForStore(what) => format!("waiting for the store: {what}"),
            Phase::Running => "running".to_owned(),
            Phase::Degraded(why) => format!("DEGRADED: {why}"),
            Phase::Failed(why) => format!("FAILED: {why}"),
            Phase::Stopped => "stopped".to_owned(),
        };
        let v = |v: &Option<Version>| v.as_ref().map_or("-".to_owned(), |v| v.to_string());
        let mut s = format!(
            "{phase}; id {} store {} running {} store-current {}",
            self.id,
            self.store,
            v(&self.running_version),
            v(&self.store_version)
        );
        if self.pending_snapshot {
            s.push_str("; snapshot pending");
            // Why it waits: a full disk or a refusing store is the operator's to fix.
            if let Some(e) = &self.last_error {
                let _ = write!(s, " ({e})");
            }
        }
        one_line(&s)
    }

    pub fn metrics(&self) -> String {
        let c = &self.counters;
        let mut m = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, value: u64| {
            // Writing to a String cannot fail.
            let _ = writeln!(m, "# HELP router_agent_{name} {help}");
            let _ = writeln!(m, "# TYPE router_agent_{name} {kind}");
            let _ = writeln!(m, "router_agent_{name} {value}");
        };
        let degraded = matches!(self.phase, Phase::Degraded(_) | Phase::Failed(_));
        let waiting = matches!(self.phase, Phase::WaitingForStore(_));
        gauge(
            "degraded",
            "1 while running other than the store's newest config",
            "gauge",
            degraded.into(),
        );
        gauge(
            "waiting_for_store",
            "1 until a store answered at boot",
            "gauge",
            waiting.into(),
        );
        gauge(
            "snapshot_pending",
            "1 while a snapshot waits for the store",
            "gauge",
            self.pending_snapshot.into(),
        );
        gauge("applies_total", "configs applied", "counter", c.applies);
        gauge(
            "apply_failures_total",
            "configs refused or failed to apply",
            "counter",
            c.apply_failures,
        );
        gauge(
            "snapshots_total",
            "snapshots written to the store",
            "counter",
            c.snapshots,
        );
        gauge(
            "snapshot_failures_total",
            "snapshot writes that failed (retried)",
            "counter",
            c.snapshot_failures,
        );
        gauge(
            "conflicts_total",
            "compare-and-swap conflicts with the store",
            "counter",
            c.conflicts,
        );
        gauge(
            "store_edits_total",
            "store-side edits applied",
            "counter",
            c.store_edits,
        );
        gauge(
            "store_edits_confirmed_total",
            "store-side edits confirmed: the store answered within the confirm window",
            "counter",
            c.edits_confirmed,
        );
        gauge(
            "store_edits_undone_total",
            "store-side edits undone: the store did not answer within the confirm window",
            "counter",
            c.edits_undone,
        );
        m
    }
}

fn family(m: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(m, "# HELP router_agent_{name} {help}");
    let _ = writeln!(m, "# TYPE router_agent_{name} {kind}");
}

/// BGP metrics from BIRD's last readout; nothing when the router runs no BGP (`None`).
pub fn bgp_metrics(readout: Option<&Readout>) -> String {
    let mut m = String::new();
    let Some(readout) = readout else {
        return m;
    };
    family(
        &mut m,
        "bird_up",
        "gauge",
        "1 when BIRD answered on its control socket at the last readout, 0 when not",
    );
    let sessions = match readout {
        Readout::Unreachable(_) => {
            m.push_str("router_agent_bird_up 0\n");
            return m;
        }
        Readout::Sessions(s) => s,
    };
    m.push_str("router_agent_bird_up 1\n");
    family(
        &mut m,
        "bgp_session_established",
        "gauge",
        "1 while the BGP session is Established",
    );
    for s in sessions {
        let _ = writeln!(
            m,
            "router_agent_bgp_session_established{{session=\"{}\"}} {}",
            label(&s.name),
            u8::from(s.established())
        );
    }
    family(
        &mut m,
        "bgp_session_info",
        "gauge",
        "always 1: the session's protocol state, BGP state, BIRD's info and description",
    );
    for s in sessions {
        let _ = writeln!(
            m,
            "router_agent_bgp_session_info{{session=\"{}\",state=\"{}\",bgp_state=\"{}\",info=\"{}\",description=\"{}\"}} 1",
            label(&s.name),
            label(&s.state),
            label(&s.bgp_state),
            label(&s.info),
            label(s.description.as_deref().unwrap_or(""))
        );
    }
    type Count = fn(&crate::bgp::status::Counts) -> u64;
    let counts: [(&str, &str, Count); 3] = [
        (
            "imported",
            "routes accepted from the peer (tagged-filtered ones included)",
            |c| c.imported,
        ),
        (
            "filtered",
            "routes from the peer its import filter rejected",
            |c| c.filtered,
        ),
        ("exported", "routes sent to the peer", |c| c.exported),
    ];
    for (what, help, get) in counts {
        let name = format!("bgp_prefixes_{what}");
        family(&mut m, &name, "gauge", help);
        for s in sessions {
            for (channel, c) in &s.channels {
                let _ = writeln!(
                    m,
                    "router_agent_{name}{{session=\"{}\",channel=\"{}\"}} {}",
                    label(&s.name),
                    label(channel),
                    get(c)
                );
            }
        }
    }
    m
}

/// BGP for the status line: `; bgp 3/4 established`, or that BIRD does not answer.
pub fn bgp_summary(readout: Option<&Readout>) -> String {
    match readout {
        None => String::new(),
        Some(Readout::Unreachable(why)) => format!("; BIRD NOT REACHABLE: {why}"),
        Some(Readout::Sessions(s)) => format!(
            "; bgp {}/{} established",
            s.iter().filter(|s| s.established()).count(),
            s.len()
        ),
    }
}

/// The status is one line that scripts split on `; `: text from outside (a store's error
/// body, a refused config's message) must not add lines or fake fields.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_one_line_whatever_the_error_text_and_says_why_a_snapshot_waits() {
        let s = Status {
            id: "r1".into(),
            store: "http://store".into(),
            phase: Phase::Degraded("store said: 500\nrunning; id r1 store x\r\u{1b}[2J".into()),
            pending_snapshot: true,
            last_error: Some("no space left on the store's disk (ENOSPC)".into()),
            ..Status::default()
        };
        let line = s.line();
        assert!(!line.contains(['\n', '\r', '\u{1b}']), "{line}");
        assert!(line.contains("500\\nrunning"), "{line}");
        assert!(
            line.ends_with("; snapshot pending (no space left on the store's disk (ENOSPC))"),
            "{line}"
        );
    }

    #[test]
    fn line_and_metrics_say_degraded() {
        let s = Status {
            id: "r1".into(),
            store: "memory://".into(),
            phase: Phase::Degraded("version m3 refused: bad".into()),
            running_version: Some(Version("m2".into())),
            store_version: Some(Version("m3".into())),
            pending_snapshot: true,
            ..Status::default()
        };
        assert_eq!(
            s.line(),
            "DEGRADED: version m3 refused: bad; id r1 store memory:// running m2 store-current m3; snapshot pending"
        );
        assert!(s.metrics().contains("\nrouter_agent_degraded 1\n"));
        assert!(s.metrics().contains("\nrouter_agent_snapshot_pending 1\n"));
    }
}

#[cfg(test)]
mod bgp_tests {
    use super::*;
    use crate::bgp::{self, FakeBird};

    const LISTING: &str = "0001 BIRD 2.0.12 ready.
2002-Name       Proto      Table      State  Since         Info
1002-p_c1       BGP        ---        up     2026-11-25 23:13:07  Established
1006-  Description:    Member \"One\" \\ Co
     BGP state:          Established
   Channel ipv4
     Routes:         7 imported, 1 filtered, 4 exported, 3 preferred
   Channel ipv6
     Routes:         2 imported, 0 filtered, 1 exported, 2 preferred
1002-p_c4       BGP        ---        down   2026-11-25 23:13:08  Automatic shutdown: Route limit exceeded
1006-  BGP state:          Down
0000
";

    fn read(protocols: &str, running: bool) -> Readout {
        let mut bird = FakeBird {
            protocols: protocols.to_owned(),
            loaded: running.then(String::new),
            ..FakeBird::default()
        };
        bgp::status::read(&mut bird)
    }

    #[test]
    fn sessions_and_counts_become_metrics() {
        let r = read(LISTING, true);
        let m = bgp_metrics(Some(&r));
        for want in [
            "router_agent_bird_up 1\n",
            "router_agent_bgp_session_established{session=\"p_c1\"} 1\n",
            "router_agent_bgp_session_established{session=\"p_c4\"} 0\n",
            "router_agent_bgp_session_info{session=\"p_c1\",state=\"up\",bgp_state=\"Established\",info=\"Established\",description=\"Member \\\"One\\\" \\\\ Co\"} 1\n",
            "router_agent_bgp_session_info{session=\"p_c4\",state=\"down\",bgp_state=\"Down\",info=\"Automatic shutdown: Route limit exceeded\",description=\"\"} 1\n",
            "router_agent_bgp_prefixes_imported{session=\"p_c1\",channel=\"ipv4\"} 7\n",
            "router_agent_bgp_prefixes_filtered{session=\"p_c1\",channel=\"ipv4\"} 1\n",
            "router_agent_bgp_prefixes_exported{session=\"p_c1\",channel=\"ipv6\"} 1\n",
        ] {
            assert!(m.contains(want), "missing {want:?} in\n{m}");
        }
        // Each family is declared once, before its samples.
        assert_eq!(
            m.matches("# TYPE router_agent_bgp_prefixes_imported gauge")
                .count(),
            1
        );
        assert_eq!(bgp_summary(Some(&r)), "; bgp 1/2 established");
    }

    #[test]
    fn bird_not_reachable_is_a_metric_and_no_bgp_is_none() {
        let r = read(LISTING, false);
        assert!(matches!(r, Readout::Unreachable(_)));
        let m = bgp_metrics(Some(&r));
        assert!(m.contains("\nrouter_agent_bird_up 0\n"), "{m}");
        assert!(!m.contains("bgp_session"), "{m}");
        assert!(bgp_summary(Some(&r)).starts_with("; BIRD NOT REACHABLE: "));
        assert_eq!(bgp_metrics(None), "");
        assert_eq!(bgp_summary(None), "");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
