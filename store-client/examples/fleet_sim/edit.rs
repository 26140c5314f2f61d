//! The operator's side: one edit round writes a change into K routers' configs (as
//! `router-agent store push` would: read, then compare-and-swap) and waits until every
//! edited router's watch has reported it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use router_store_client::note::{message, WriteKind};
use router_store_client::{ConfigStore, Expect, StoreError};

use crate::stats::Round;
use crate::{router, router_id, Shared};

/// Edits written at once (an operator's script, or the dashboard's fleet action).
const AT_ONCE: usize = 32;
/// A watcher that has not seen its edit by then is counted as missing.
const WAIT: Duration = Duration::from_secs(60);
/// How long an edit is tried again after conflicts (a router's snapshot landed between
/// the read and the write); a real operator's `store push` would report the conflict.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// Edits routers spread over the fleet, `k` of them.
pub async fn round(
    admin: Arc<dyn ConfigStore>,
    shared: &Arc<Shared>,
    round: u32,
    k: usize,
) -> Round {
    let picked: Vec<usize> = (0..k).map(|j| j * shared.routers / k).collect();
    let first = Instant::now();
    let starts: Vec<(usize, Instant)> = stream::iter(picked.iter().copied())
        .map(|i| {
            let admin = admin.clone();
            async move { (i, edit_one(admin.as_ref(), shared, round, i).await) }
        })
        .buffer_unordered(AT_ONCE)
        .filter_map(|(i, started)| async move { started.map(|s| (i, s)) })
        .collect()
        .await;
    let written = first.elapsed();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let waiting = shared.arrived.notified();
        let arrived = shared.arrivals(round);
        if starts.iter().all(|(i, _)| arrived.contains_key(i)) {
            break;
        }
        if tokio::time::timeout_at(deadline, waiting).await.is_err() {
            break;
        }
    }
    let arrived = shared.arrivals(round);
    let mut last = None;
    let mut missing = picked.len() - starts.len();
    for (i, started) in &starts {
        match arrived.get(i) {
            Some(at) => {
                shared
                    .stats
                    .edit_notify
                    .add(at.saturating_duration_since(*started));
                last = last.max(Some(*at));
            }
            None => missing += 1,
        }
    }
    let all_received = last.map(|at| at.saturating_duration_since(first));
    eprintln!(
        "fleet-sim: edit round {round}: {} of {k} written in {written:.1?}; {} watchers told, the last after {:.1?}; {missing} missing",
        starts.len(),
        arrived.len(),
        all_received.unwrap_or_default()
    );
    Round {
        all_received,
        missing,
    }
}

/// One router's edit; when its first attempt was sent, if it was written.
async fn edit_one(
    admin: &dyn ConfigStore,
    shared: &Shared,
    round: u32,
    i: usize,
) -> Option<Instant> {
    let id = router_id(i);
    let msg = message(WriteKind::Push, &format!("fleet-sim: edit round {round}"));
    let started = Instant::now();
    let mut attempts = 0;
    while started.elapsed() < RETRY_FOR {
        attempts += 1;
        let current = match admin.get(&id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                shared.stats.errors.add("edit", &"the router has no config");
                return None;
            }
            Err(e) => {
                shared.stats.errors.add("edit: reading", &e);
                return None;
            }
        };
        let text = format!("{}{}{round}\n", current.text, router::EDIT_MARK);
        match admin
            .put(&id, &text, &Expect::Version(current.version), &msg)
            .await
        {
            Ok(_) => {
                shared.stats.edit_write.add(started.elapsed());
                return Some(started);
            }
            Err(StoreError::Conflict { .. }) => {
                shared
                    .stats
                    .conflicts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => {
                shared.stats.errors.add("edit: writing", &e);
                return None;
            }
        }
    }
    shared.stats.errors.add(
        "edit",
        &format!("still conflicting after {attempts} attempts"),
    );
    None
}
