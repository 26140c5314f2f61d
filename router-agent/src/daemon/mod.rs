//! `router-agent daemon`: boot -> pull -> apply -> watch -> snapshot -> shutdown.

mod backoff;
pub mod bootargs;
mod core;
pub mod identity;
pub mod status;

pub use self::core::{error_chain, Daemon, Event, Settings, StoppedWaiting};

#[cfg(test)]
mod tests;
