//! Subcommands of the `router-agent` binary that are more than a call into a module
//! (`main.rs` only parses and dispatches).

pub mod store;
