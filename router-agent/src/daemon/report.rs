//! The router's status record in the store (`router-agent store ls` reads it): written at
//! start, whenever what it says changes, and as a heartbeat, so that a router that stops
//! reporting shows as stale. A failed write is logged and tried again at the next beat; it
//! never holds up the daemon (this runs beside it, fed by its status channel).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::status::{Phase, Status};
use crate::bgp::Readout;
use crate::store::status::{BgpCount, StatusReport};
use crate::store::{ConfigStore, RouterId};

/// Default heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(60);

/// Seconds since the Unix epoch (the wall clock in the daemon; a test's own).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// What the reporter needs besides the channels.
pub struct Reporter {
    pub store: Arc<dyn ConfigStore>,
    pub id: RouterId,
    pub every: Duration,
    pub boot_unix_time: u64,
    pub clock: Clock,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("store", &self.store.describe())
            .field("id", &self.id)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// The record for `status` and BIRD's last readout, as of `now`.
pub fn record(
    status: &Status,
    bgp: Option<&Readout>,
    every: Duration,
    boot_unix_time: u64,
    now: u64,
) -> StatusReport {
    let (phase, reason) = match &status.phase {
        Phase::Starting => ("starting", None),
        Phase::WaitingForStore(what) => ("waiting", Some(what.clone())),
        Phase::Running => ("running", None),
        Phase::Degraded(why) => ("degraded", Some(why.clone())),
        Phase::Failed(why) => ("failed", Some(why.clone())),
        Phase::Stopped => ("stopped", None),
    };
    let bgp = bgp.map(|r| match r {
        Readout::Unreachable(_) => BgpCount {
            up: 0,
            total: 0,
            bird_unreachable: true,
        },
        Readout::Sessions(s) => BgpCount {
            up: u32::try_from(s.iter().filter(|s| s.established()).count()).unwrap_or(u32::MAX),
            total: u32::try_from(s.len()).unwrap_or(u32::MAX),
            bird_unreachable: false,
        },
    });
    StatusReport {
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        unix_time: now,
        boot_unix_time,
        heartbeat_secs: every.as_secs().max(1),
        phase: phase.to_owned(),
        reason,
        running_version: status.running_version.as_ref().map(|v| v.0.clone()),
        store_version: status.store_version.as_ref().map(|v| v.0.clone()),
        snapshot_pending: status.pending_snapshot,
        last_error: status.last_error.clone(),
        bgp,
        last_apply: status.last_apply.clone(),
        owned: status.owned,
    }
}

impl Reporter {
    /// Runs until the daemon's status channel closes (after a last record).
    pub async fn run(
        self,
        mut status: watch::Receiver<Status>,
        mut bgp: watch::Receiver<Option<Readout>>,
    ) {
        let mut last: Option<StatusReport> = None;
        let mut open = true;
        loop {
            let now = (self.clock)();
            let report = {
                let s = status.borrow_and_update();
                let b = bgp.borrow_and_update();
                record(&s, b.as_ref(), self.every, self.boot_unix_time, now)
            };
            // A change of what it says, or a beat due: the time alone changing is no news.
            let same = last.as_ref().is_some_and(|l| {
                StatusReport {
                    unix_time: now,
                    ..l.clone()
                } == report
            });
            if !same
                || last
                    .as_ref()
                    .is_some_and(|l| now >= l.unix_time + self.every.as_secs())
            {
                match self.store.put_status(&self.id, &report.to_bytes()).await {
                    Ok(()) => {
                        tracing::debug!(phase = report.phase, "status report written");
                        last = Some(report);
                    }
                    Err(e) => tracing::warn!("status report not written: {e}"),
                }
            }
            if !open {
                return;
            }
            tokio::select! {
                r = status.changed() => open = r.is_ok(),
                r = bgp.changed(), if bgp.has_changed().is_ok() => {
                    if r.is_err() {
                        // No BIRD poller: nothing more from that side.
                        continue;
                    }
                }
                () = tokio::time::sleep(self.every) => {}
            }
        }
    }
}

/// The machine's boot time from the kernel's `btime` (`/proc/stat`), else now.
pub fn boot_unix_time() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or_else(crate::store::status::unix_now)
}

#[cfg(test)]
mod tests;
