//! `router-agent daemon`: boot -> pull -> apply -> watch -> snapshot -> shutdown.

mod backoff;
pub mod bgp_poll;
pub use router_store_client::bootargs;
mod core;
#[cfg(feature = "kernel")]
mod drivers;
pub mod identity;
#[cfg(feature = "kernel")]
mod linux;
#[cfg(feature = "kernel")]
mod mgmt;
pub mod persist;
pub mod report;
pub mod status;

pub use self::core::{error_chain, Daemon, Event, Settings, StoppedWaiting};
#[cfg(feature = "kernel")]
pub use linux::{run, DaemonArgs, DaemonError};

#[cfg(test)]
mod tests;
