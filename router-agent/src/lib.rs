//! `router-agent`: a declarative router config (TOML) applied to the Linux kernel over
//! netlink, and the running kernel state rendered back as config.
//!
//! The config model and the planner are the pure `router-model` crate (re-exported here as
//! `model` and `plan`); the stores are `router-store-client` (as `store`). `kernel` holds the
//! netlink side; `firewall` and `bgp` drive `nft` and BIRD.

pub mod bgp;
pub mod commands;
pub mod config_file;
pub mod confirm;
pub mod console_log;
pub mod daemon;
pub mod firewall;
pub mod kernel;
pub mod logs;
pub mod metrics;
pub mod reconcile;
pub mod router;

pub use router_model as model;
pub use router_model::plan;
pub use router_store_client as store;
