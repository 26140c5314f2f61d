//! How many connections the server holds, in all and per client address, so that a flood of
//! idle or slow connections from one place never takes the descriptors a legitimate router
//! needs. Over a limit, a new connection is accepted and closed at once (left in the
//! kernel's backlog it would still hold a slot there).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Descriptors kept free for everything that is not a client connection: the listener,
/// git's pipes, the files served, the logs.
const RESERVED_FDS: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections held at once, from everyone.
    pub max: usize,
    /// Connections held at once from one client address (a router needs one or two; a
    /// management host's scripts a few dozen).
    pub per_client: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max: 4096,
            per_client: 64,
        }
    }
}

impl ConnLimits {
    /// These limits, with `max` lowered to what the process's descriptor limit allows.
    pub fn fitted_to(self, nofile: u64) -> ConnLimits {
        let room = usize::try_from(nofile.saturating_sub(RESERVED_FDS) / 2).unwrap_or(usize::MAX);
        // Half: TLS and git may hold a second descriptor per connection.
        ConnLimits {
            max: self.max.min(room.max(1)),
            per_client: self.per_client.min(self.max).max(1),
        }
    }
}

/// Raises the soft descriptor limit to the hard one (systemd starts services at 1024) and
/// returns the limit now in force.
pub fn raise_nofile() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let wanted = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, wanted) {
            Ok(()) => limit = wanted,
            Err(e) => tracing::warn!("raising the open-file limit: {e}"),
        }
    }
    limit.current.unwrap_or(u64::MAX)
}

/// The connections held now; a [`Slot`] per connection gives its place back when dropped.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    limits: ConnLimits,
    held: Arc<Mutex<Held>>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    Server,
    Client,
}

#[derive(Debug)]
pub(crate) struct Slot {
    held: Arc<Mutex<Held>>,
    client: IpAddr,
}

impl Tracker {
    pub fn new(limits: ConnLimits) -> Tracker {
        Tracker {
            limits,
            held: Arc::default(),
        }
    }

    pub fn admit(&self, client: IpAddr) -> Result<Slot, Full> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.total >= self.limits.max {
            return Err(Full::Server);
        }
        let mine = held.by_client.entry(client).or_default();
        if *mine >= self.limits.per_client {
            return Err(Full::Client);
        }
        *mine += 1;
        held.total += 1;
        Ok(Slot {
            held: self.held.clone(),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.total -= 1;
        if let Some(n) = held.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                held.by_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn one_client_is_held_to_its_share_and_others_still_get_in() {
        let t = Tracker::new(ConnLimits {
            max: 5,
            per_client: 2,
        });
        let a1 = t.admit(ip("192.0.2.1")).expect("first");
        let _a2 = t.admit(ip("192.0.2.1")).expect("second");
        assert_eq!(t.admit(ip("192.0.2.1")).err(), Some(Full::Client));
        let _b = t.admit(ip("192.0.2.2")).expect("another client");
        drop(a1);
        let _a3 = t.admit(ip("192.0.2.1")).expect("a slot given back");
        let _c = t.admit(ip("192.0.2.3")).expect("c1");
        let _c2 = t.admit(ip("192.0.2.3")).expect("c2");
        assert_eq!(t.admit(ip("192.0.2.4")).err(), Some(Full::Server));
    }

    #[test]
    fn the_total_fits_the_descriptor_limit() {
        let l = ConnLimits::default().fitted_to(1024);
        assert_eq!(l.max, (1024 - 64) / 2);
        assert_eq!(l.per_client, 64);
        assert_eq!(ConnLimits::default().fitted_to(1 << 20).max, 4096);
    }
}
