//! Prometheus: the daemon's metrics served over HTTP (`serve`), where the flag or the boot
//! parameters say (docs/config.md, "Metrics").

pub mod serve;

use std::net::SocketAddr;
use std::path::Path;

use crate::store::bootargs::{self, MetricsListen};

/// `--metrics-listen`'s value: ADDRESS:PORT or `off`.
pub fn parse_listen(s: &str) -> Result<MetricsListen, String> {
    match s {
        "off" => Ok(MetricsListen::Off),
        _ => s
            .parse()
            .map(MetricsListen::At)
            .map_err(|_| format!("{s:?}: expected ADDRESS:PORT (e.g. 192.0.2.10:9101) or off")),
    }
}

/// Where the exporter listens: the flag, else `router.metrics=` or the static management
/// address of the boot parameters. A command line that cannot be read or parsed gives
/// none here: the daemon reports it.
pub fn listen_address(flag: Option<MetricsListen>, cmdline: &Path) -> Option<SocketAddr> {
    match flag {
        Some(MetricsListen::At(addr)) => Some(addr),
        Some(MetricsListen::Off) => None,
        None => std::fs::read_to_string(cmdline)
            .ok()
            .and_then(|text| bootargs::parse(&text).ok())
            .and_then(|boot| boot.metrics_listen()),
    }
}
