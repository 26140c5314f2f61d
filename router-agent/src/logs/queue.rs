//! The bounded buffer between the journal and the collector, and the collector's name:
//! one lock, one condition variable. Pushing never waits: a full buffer drops its oldest.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::{Counters, Target};

/// How much is kept while the collector cannot be reached.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub messages: usize,
    pub bytes: usize,
}

impl Default for Limits {
    /// About a boot's worth of journal: 5,000 entries or 2 MiB.
    fn default() -> Self {
        Limits {
            messages: 5000,
            bytes: 2 << 20,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Vec<u8>>,
    bytes: usize,
    target: Option<Target>,
    /// Bumped on every change of target: the sender reconnects.
    generation: u64,
}

#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    limits: Limits,
}

impl Shared {
    pub fn new(limits: Limits) -> Shared {
        Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicked holder leaves plain data behind: keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn queued(&self) -> usize {
        self.lock().frames.len()
    }

    /// Whether the target changed.
    pub fn set_target(&self, target: Option<Target>) -> bool {
        let mut s = self.lock();
        if s.target == target {
            return false;
        }
        s.target = target;
        s.generation += 1;
        self.changed.notify_all();
        true
    }

    /// Blocks until a collector is named (the journal is not read before).
    pub fn wait_for_target(&self) {
        let mut s = self.lock();
        while s.target.is_none() {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Queues a frame, dropping the oldest ones past the limits.
    pub fn push(&self, frame: Vec<u8>, counters: &Counters) {
        let mut s = self.lock();
        self.push_locked(&mut s, frame, false, counters);
        self.changed.notify_all();
    }

    /// Puts back a frame the sender could not send, first in line.
    pub fn unpop(&self, frame: Vec<u8>, counters: &Counters) {
        let mut s = self.lock();
        self.push_locked(&mut s, frame, true, counters);
    }

    fn push_locked(&self, s: &mut State, frame: Vec<u8>, front: bool, counters: &Counters) {
        s.bytes += frame.len();
        if front {
            s.frames.push_front(frame);
        } else {
            s.frames.push_back(frame);
        }
        while s.frames.len() > self.limits.messages || s.bytes > self.limits.bytes {
            let Some(old) = s.frames.pop_front() else {
                break;
            };
            s.bytes -= old.len();
            counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The next frame and where it goes, once there is both.
    pub fn next(&self) -> (Vec<u8>, Target, u64) {
        let mut s = self.lock();
        loop {
            if let Some(t) = s.target.clone() {
                if let Some(f) = s.frames.pop_front() {
                    s.bytes -= f.len();
                    return (f, t, s.generation);
                }
            }
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits `d`, or less if the target changes from `generation`.
    pub fn pause(&self, d: Duration, generation: u64) {
        let s = self.lock();
        let _ = self
            .changed
            .wait_timeout_while(s, d, |s| s.generation == generation);
    }
}
