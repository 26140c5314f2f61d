//! Remote logs: the router's journal (kernel, agent, BIRD, sshd: everything journald
//! holds since boot) forwarded to a syslog collector as RFC 5424, with the router id as
//! HOSTNAME. Where to: `router.log=` until a config's `[logging]` says otherwise (a config
//! without one leaves the boot parameter's collector in place).
//!
//! Two threads of their own, never the daemon's loop: one follows the journal
//! (`journalctl -o json`, [`journal`]) and frames each entry ([`frame`]) into a bounded
//! queue ([`queue`]; when full, the oldest frame goes and `router_agent_log_dropped_total`
//! counts it), one sends ([`ship`]) and reconnects with backoff. Nothing runs before a
//! collector is named. No TLS: the collector is on the management network.

pub mod frame;
pub mod journal;
pub mod queue;
pub mod router;
pub mod ship;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::model::{LogTransport, LoggingConfig};
use crate::store::bootargs::LogTarget;

pub use queue::Limits;

/// A collector: where the frames go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub udp: bool,
}

impl Target {
    pub fn from_config(c: &LoggingConfig) -> Target {
        Target {
            host: c.collector.host().to_owned(),
            port: c.collector.port(),
            udp: c.transport == LogTransport::Udp,
        }
    }
    pub fn from_boot(t: &LogTarget) -> Target {
        Target {
            host: t.host.clone(),
            port: t.port,
            udp: t.udp,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let scheme = if self.udp { "udp" } else { "tcp" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// The forwarder's counters, served with the daemon's metrics.
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
}

/// The process's forwarder counters (one forwarder a process).
pub static COUNTERS: Counters = Counters {
    sent: AtomicU64::new(0),
    dropped: AtomicU64::new(0),
};

impl Counters {
    /// Prometheus text for the exporter to append to the daemon's metrics.
    pub fn metrics(&self) -> String {
        format!(
            "# HELP router_agent_log_sent_total Journal entries sent to the syslog collector.\n\
             # TYPE router_agent_log_sent_total counter\n\
             router_agent_log_sent_total {}\n\
             # HELP router_agent_log_dropped_total Journal entries dropped: the collector was down or refused, and the buffer was full.\n\
             # TYPE router_agent_log_dropped_total counter\n\
             router_agent_log_dropped_total {}\n",
            self.sent.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed)
        )
    }
}

/// The daemon's hold on the forwarder: it names the collector.
#[derive(Debug, Clone)]
pub struct Handle {
    shared: Arc<queue::Shared>,
    boot: Option<Target>,
}

impl Handle {
    /// After a config is applied: its `[logging]`, else the boot parameter's collector.
    pub fn configured(&self, logging: Option<&LoggingConfig>) {
        let target = logging
            .map(Target::from_config)
            .or_else(|| self.boot.clone());
        if self.shared.set_target(target.clone()) {
            match target {
                Some(t) => tracing::info!("logs: forwarding the journal to {t}"),
                None => tracing::info!("logs: no collector"),
            }
        }
    }

    /// Frames queued and not yet sent.
    pub fn queued(&self) -> usize {
        self.shared.queued()
    }
}

/// Starts the reader and the sender threads. `boot` is the collector until a config
/// names one.
pub fn start(
    hostname: &str,
    boot: Option<Target>,
    source: Box<dyn journal::Journal>,
    connect: Box<dyn ship::Connect>,
    limits: Limits,
    counters: &'static Counters,
) -> std::io::Result<Handle> {
    let shared = Arc::new(queue::Shared::new(limits));
    let (s, host) = (shared.clone(), hostname.to_owned());
    std::thread::Builder::new()
        .name("log-reader".into())
        .spawn(move || journal::follow(source, &s, &host, counters))?;
    let s = shared.clone();
    std::thread::Builder::new()
        .name("log-sender".into())
        .spawn(move || ship::send_loop(connect, &s, counters, ship::Backoff::default()))?;
    let handle = Handle { shared, boot };
    handle.configured(None);
    Ok(handle)
}

#[cfg(test)]
mod tests;
