//! What the simulated fleet measured: latency samples per kind of request, error counts,
//! and the figures as one row of the table `bench/fleet.sh` prints.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Samples of one kind of request.
#[derive(Debug, Default)]
pub struct Samples(Mutex<Vec<Duration>>);

impl Samples {
    pub fn add(&self, d: Duration) {
        if let Ok(mut v) = self.0.lock() {
            v.push(d);
        }
    }

    pub fn summary(&self) -> Summary {
        let mut v = self.0.lock().map(|v| v.clone()).unwrap_or_default();
        v.sort();
        Summary(v)
    }
}

/// Sorted samples.
#[derive(Debug, Default)]
pub struct Summary(pub Vec<Duration>);

impl Summary {
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile (nearest rank), if there is a sample.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        Some(self.0[rank - 1])
    }

    pub fn max(&self) -> Option<Duration> {
        self.0.last().copied()
    }

    /// `p50 / p99 / max`.
    pub fn triple(&self) -> String {
        format!(
            "{} / {} / {}",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.max())
        )
    }
}

/// A duration for the table: milliseconds below 10 s, else seconds.
pub fn ms(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) if d < Duration::from_secs(10) => format!("{:.1} ms", d.as_secs_f64() * 1e3),
        Some(d) => format!("{:.1} s", d.as_secs_f64()),
    }
}

/// Errors by what failed and why, counted (never dropped: every one is in the total).
#[derive(Debug, Default)]
pub struct Errors(Mutex<BTreeMap<String, u64>>);

impl Errors {
    pub fn add(&self, what: &str, e: &dyn std::fmt::Display) {
        // Digits differ from one router and version to the next; the kind of failure not.
        let text: String = format!("{what}: {e}")
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .take(160)
            .collect();
        if let Ok(mut m) = self.0.lock() {
            *m.entry(text).or_default() += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.lock().map(|m| m.values().sum()).unwrap_or_default()
    }

    /// Every kind with its count, most frequent first.
    pub fn kinds(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .0
            .lock()
            .map(|m| m.iter().map(|(k, n)| (k.clone(), *n)).collect())
            .unwrap_or_default();
        v.sort_by_key(|k| std::cmp::Reverse(k.1));
        v
    }
}

/// Everything measured in one run.
#[derive(Debug, Default)]
pub struct Stats {
    pub snapshot: Samples,
    pub heartbeat: Samples,
    pub edit_write: Samples,
    /// From the start of an edit's write to the router's watch reporting it.
    pub edit_notify: Samples,
    pub conflicts: std::sync::atomic::AtomicU64,
    pub errors: Errors,
}

/// The listing figures (each `None` when not measured or failed).
#[derive(Debug, Default, Clone)]
pub struct Listing {
    pub ids_loaded: Option<Duration>,
    pub ids_idle: Option<Duration>,
    pub rows_idle: Option<Duration>,
    pub dashboard_idle: Option<Duration>,
}

/// One edit round: every edited router's notification, or how many never came.
#[derive(Debug, Clone)]
pub struct Round {
    /// From the first write sent to the last notification received.
    pub all_received: Option<Duration>,
    pub missing: usize,
}

pub const HEADER: &str = "| store | routers | minute | snapshots done / due | snapshot write p50 / p99 / max | heartbeat p50 / p99 / max | edit write p50 / p99 / max | edit to watcher p50 / p99 / max | edit to all watchers | routers listed (under load / idle) | fleet rows, idle | dashboard `/`, idle | conflicts | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// The row for `HEADER`.
pub struct Row<'a> {
    pub label: &'a str,
    pub routers: usize,
    pub minute: Duration,
    pub due: u64,
    pub stats: &'a Stats,
    pub rounds: &'a [Round],
    pub listing: &'a Listing,
}

impl Row<'_> {
    pub fn render(&self) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.stats;
        let snapshot = s.snapshot.summary();
        let all: Vec<String> = self
            .rounds
            .iter()
            .map(|r| match (r.all_received, r.missing) {
                (Some(d), 0) => ms(Some(d)),
                (_, missing) => format!("{missing} never"),
            })
            .collect();
        let l = self.listing;
        format!(
            "| {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} |",
            self.label,
            self.routers,
            ms(Some(self.minute)),
            snapshot.count(),
            self.due,
            snapshot.triple(),
            s.heartbeat.summary().triple(),
            s.edit_write.summary().triple(),
            s.edit_notify.summary().triple(),
            if all.is_empty() {
                "-".into()
            } else {
                all.join(", ")
            },
            ms(l.ids_loaded),
            ms(l.ids_idle),
            ms(l.rows_idle),
            l.dashboard_idle.map_or("n/a".into(), |d| ms(Some(d))),
            s.conflicts.load(Relaxed),
            s.errors.total(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let s = Summary((1..=100).map(Duration::from_millis).collect());
        assert_eq!(s.quantile(0.5), Some(Duration::from_millis(50)));
        assert_eq!(s.quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(s.max(), Some(Duration::from_millis(100)));
        assert_eq!(Summary::default().quantile(0.5), None);
    }
}
