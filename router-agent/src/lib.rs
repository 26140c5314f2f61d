//! `router-agent`: a declarative router config (TOML) applied to the Linux kernel over
//! netlink, and the running kernel state rendered back as config.
//!
//! `model` and `plan` are pure; `kernel` is the only module that talks to the kernel.

pub mod bgp;
pub mod config_file;
pub mod confirm;
pub mod console_log;
pub mod daemon;
pub mod firewall;
#[cfg(feature = "kernel")]
pub mod kernel;
pub mod model;
pub mod plan;
pub mod reconcile;
pub mod router;
pub mod store;
