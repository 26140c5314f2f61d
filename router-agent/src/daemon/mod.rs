//! `router-agent daemon`: boot -> pull -> apply -> watch -> snapshot -> shutdown.

mod backoff;
pub mod bgp_poll;
pub use router_store_client::bootargs;
mod core;
mod drivers;
pub mod identity;
mod linux;
mod mgmt;
pub mod persist;
pub mod report;
pub mod status;

pub use self::core::{Daemon, Event, Settings, StoppedWaiting};
pub use linux::{run, DaemonArgs, DaemonError};

#[cfg(test)]
mod tests;
