//! The daemon's state, all of it in one struct: [`Daemon`](super::Daemon) moves it from
//! one state to the next on an event, a store event or a timer ([`Wake`]), and
//! [`Status`](super::Status) only mirrors it. docs/daemon.md draws it.

use std::time::Duration;

use tokio::time::Instant;

use super::confirm_edit::EditState;
use super::Phase;
use crate::store::{Expect, Version, Watch};

/// The write side: what waits to reach the store.
#[derive(Debug, Default)]
pub(super) enum Write {
    /// Nothing waits: the store has what runs (or the daemon does not know better yet).
    #[default]
    Idle,
    /// A snapshot waits for a commit-confirm (the hold file, or a store-side edit in its
    /// confirm window); looked at again at `at`. `older`: a snapshot rendered before the
    /// hold and not yet written, kept as it is.
    Held { at: Instant, older: Option<String> },
    /// A rendered snapshot not yet written (the newest wins); written again at `at`.
    Pending { text: String, at: Instant },
}

impl Write {
    /// The snapshot text not yet written, if any.
    pub(super) fn text(&self) -> Option<&str> {
        match self {
            Write::Idle | Write::Held { older: None, .. } => None,
            Write::Held {
                older: Some(text), ..
            }
            | Write::Pending { text, .. } => Some(text),
        }
    }

    /// When the write side wants to be woken.
    pub(super) fn at(&self) -> Option<Instant> {
        match self {
            Write::Idle => None,
            Write::Held { at, .. } | Write::Pending { at, .. } => Some(*at),
        }
    }

    /// Takes the unwritten text out (the state becomes idle).
    pub(super) fn take_text(&mut self) -> Option<String> {
        match std::mem::take(self) {
            Write::Idle => None,
            Write::Held { older, .. } => older,
            Write::Pending { text, .. } => Some(text),
        }
    }

    /// The unwritten text (if any) is tried again at `at`.
    pub(super) fn retry_at(&mut self, at: Instant) {
        if let Some(text) = self.take_text() {
            *self = Write::Pending { text, at };
        }
    }
}

/// The store's watch (push from the writer, or its polling).
#[derive(Debug, Default)]
pub(super) enum WatchState {
    /// Not watching: no writable store, or it could not be watched when the daemon started.
    #[default]
    Off,
    Open(Watch),
    /// The watch ended; opened again at this time.
    Closed(Instant),
}

/// A stream of changes on the router, snapshotted after a quiet time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Debounce {
    /// The first change of the stream (a stream is snapshotted at least every
    /// `max_debounce`).
    pub(super) first: Instant,
    pub(super) at: Instant,
}

/// A timer of the state machine that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wake {
    /// The changes went quiet: snapshot.
    Debounced,
    /// A held snapshot is looked at again, or a pending one written again.
    Write,
    /// Open the store's watch again.
    Watch,
    /// Look for persisted files that were missing.
    Files,
    /// Probe the store for a store-side edit in its confirm window, or record an undone one.
    Confirm,
    /// The periodic snapshot.
    Periodic,
}

#[derive(Debug, Default)]
pub(super) struct Machine {
    /// Where the daemon is in its life; `Running`, `Degraded` and `Failed` are the states
    /// of a running daemon that say how what runs relates to the store.
    pub(super) phase: Phase,
    /// The store version the running config came from (or was last saved as).
    pub(super) running_version: Option<Version>,
    /// The writer's current version as last seen (an edit is a different one).
    pub(super) store_version: Option<Version>,
    /// The running config's text as the writer's history has it: the baseline a snapshot
    /// is compared with (`None`: unknown, the next difference is written).
    pub(super) saved: Option<String>,
    /// What the next write expects; `None`: unknown, ask the writer first.
    pub(super) expect: Option<Expect>,
    pub(super) write: Write,
    pub(super) debounce: Option<Debounce>,
    pub(super) watch: WatchState,
    /// When missing persisted files are looked for again.
    pub(super) files_due: Option<Instant>,
    pub(super) periodic_at: Option<Instant>,
    /// A store-side edit in its confirm window, and the last one undone.
    pub(super) edit: EditState,
}

impl Machine {
    /// A change on the router: (re)starts the quiet time, bounded by `max` since the
    /// first change of the stream.
    pub(super) fn changed(&mut self, quiet: Duration, max: Duration) {
        let now = Instant::now();
        let first = self.debounce.map_or(now, |d| d.first);
        self.debounce = Some(Debounce {
            first,
            at: (now + quiet).min(first + max),
        });
    }

    /// The next timer and when it is due (ties go in [`Wake`]'s order).
    pub(super) fn next_wake(&self) -> Option<(Instant, Wake)> {
        let watch = match &self.watch {
            WatchState::Closed(at) => Some(*at),
            _ => None,
        };
        [
            (self.debounce.map(|d| d.at), Wake::Debounced),
            (self.write.at(), Wake::Write),
            (watch, Wake::Watch),
            (self.files_due, Wake::Files),
            (self.edit.due(), Wake::Confirm),
            (self.periodic_at, Wake::Periodic),
        ]
        .into_iter()
        .filter_map(|(at, w)| at.map(|at| (at, w)))
        .min_by_key(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stream_of_changes_is_snapshotted_within_max_debounce() {
        let mut m = Machine::default();
        let t0 = Instant::now();
        let (quiet, max) = (Duration::from_millis(20), Duration::from_millis(100));
        for _ in 0..10 {
            m.changed(quiet, max);
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        assert_eq!(m.next_wake(), Some((t0 + max, Wake::Debounced)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_earliest_timer_wakes_first_and_ties_go_in_order() {
        let now = Instant::now();
        let mut m = Machine {
            periodic_at: Some(now + Duration::from_secs(300)),
            files_due: Some(now + Duration::from_secs(2)),
            write: Write::Pending {
                text: "t".into(),
                at: now + Duration::from_secs(2),
            },
            ..Machine::default()
        };
        assert_eq!(
            m.next_wake(),
            Some((now + Duration::from_secs(2), Wake::Write))
        );
        m.write.take_text();
        assert!(matches!(m.write, Write::Idle));
        assert_eq!(
            m.next_wake(),
            Some((now + Duration::from_secs(2), Wake::Files))
        );
    }
}
