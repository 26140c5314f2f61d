//! What the daemon tells operators: a one-line status and Prometheus metrics (textfile
//! format), rewritten on every change.

use std::fmt::Write;

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
}

impl Status {
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
        }
        s
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
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
