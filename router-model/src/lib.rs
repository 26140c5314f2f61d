//! `router-model`: the router config (TOML in, a validated [`NetState`] out, and back to
//! TOML) and the planner (`plan::diff`: desired and current state to ordered operations and
//! their revert). Pure: nothing here touches the kernel, the network, the clock or files.

pub mod bgp;
mod error;
pub mod firewall;
pub mod human;
mod interface;
mod locate;
mod logging;
pub mod plan;
mod render;
mod render_preserving;
mod route;
mod snapshot;
mod snapshot_shape;
mod state;
pub mod summary;
mod sysctl;
mod types;
mod validate;
mod wireguard;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use error::{ConfigError, Problem, Seg};
pub use interface::*;
pub use logging::{Collector, LogTransport, LoggingConfig};
pub use render::{redact_secrets, render, render_config, to_config};
pub use render_preserving::{render_over, try_render_over, RenderOverError};
pub use route::*;
pub use snapshot::{names_from_rt_tables, render_snapshot, with_table_names};
pub use snapshot_shape::{shape_like, without_boot_state, BootState};
pub use state::*;
pub use sysctl::*;
pub use types::*;
pub use validate::ValidConfig;
pub use wireguard::*;

/// The config file as written, before semantic validation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub version: Version,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "SysctlConfig::is_empty")]
    pub sysctl: SysctlConfig,
    /// Names for routing tables, usable wherever a table is expected.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tables: BTreeMap<String, u32>,
    #[serde(default, rename = "interface", skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceConfig>,
    #[serde(default, rename = "route", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteConfig>,
    #[serde(default, rename = "rule", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<firewall::FirewallConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<bgp::BgpConfig>,
    /// Where the journal is forwarded; not kernel state (the agent runs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingConfig>,
}

/// The schema version. Only 1 exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Version(u32);

impl Default for Version {
    fn default() -> Self {
        Version(1)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match i64::deserialize(d)? {
            1 => Ok(Version(1)),
            v => Err(serde::de::Error::custom(format!(
                "config version {v} is not supported; this agent reads version = 1"
            ))),
        }
    }
}

/// Parses and validates a config that names no list files (or whose files are reported
/// as not read). `origin` names the source in error messages (a path).
pub fn load(origin: &str, text: &str) -> Result<ValidConfig, ConfigError> {
    validate_text(parse(origin, text)?, origin, text)
}

/// Parses a config; the caller reads the files it names ([`Config::list_files`]) into
/// it before [`validate_text`].
pub fn parse(origin: &str, text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::parse(origin, text, &e))
}

/// Validates a config parsed from `text`; problems are placed in `text`.
pub fn validate_text(config: Config, origin: &str, text: &str) -> Result<ValidConfig, ConfigError> {
    config
        .validate()
        .map_err(|problems| ConfigError::invalid(origin, text, problems))
}

impl Config {
    /// The files beside the config it names (`[bgp]` peers' list files), each once.
    pub fn list_files(&self) -> Vec<bgp::ListFile> {
        self.bgp.as_ref().map_or_else(Vec::new, |b| b.list_files())
    }

    /// The text of a file it names, or why it could not be read.
    pub fn set_file(&mut self, name: bgp::ListFile, text: Result<String, String>) {
        if let Some(b) = &mut self.bgp {
            b.files.0.insert(name, text);
        }
    }
}
