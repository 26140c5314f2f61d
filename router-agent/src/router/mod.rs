//! The whole router behind one trait: apply a validated config (firewall and interfaces as
//! one step that is undone as a whole on failure) and read the running config back. The
//! daemon drives this; tests drive [`FakeRouter`].

mod fake;
mod linux;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::bgp::BgpPlan;
use crate::firewall::{self, FirewallError};
use crate::model::bgp::Bgp;
use crate::model::firewall::Firewall;
use crate::model::{Config, NetState, ValidConfig};
use crate::reconcile::{self, ApplyError, KernelError};

pub use fake::{FakeRouter, FakeState};
pub use linux::{apply_both, LinuxRouter};

/// What an apply changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// Netlink operations written.
    pub net_ops: usize,
    /// Firewall objects changed (one nft transaction).
    pub firewall_changes: usize,
}

impl Applied {
    pub fn is_empty(&self) -> bool {
        self.net_ops == 0 && self.firewall_changes == 0
    }
}

/// What [`LinuxRouter::apply_target`] brings the router to.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub state: &'a NetState,
    pub firewall: Option<&'a Firewall>,
    /// None: BIRD is left as it is.
    pub bgp: Option<&'a Bgp>,
    /// BIRD goes back to its config by itself after this many seconds unless confirmed.
    pub bird_timeout: Option<u32>,
}

/// BIRD's part of an apply that changed bird.conf.
#[derive(Debug)]
pub struct BgpApplied {
    pub plan: BgpPlan,
    /// Whether BIRD loaded the config (false: it was not running).
    pub reconfigured: bool,
    /// From the check to BIRD's reconfiguration.
    pub took: Duration,
}

/// Everything one apply did, part by part.
#[derive(Debug)]
pub struct Outcome {
    pub net: reconcile::Report,
    pub firewall: firewall::Report,
    /// None: bird.conf did not change (or the config has no `[bgp]`).
    pub bgp: Option<BgpApplied>,
}

impl Outcome {
    pub fn applied(&self) -> Applied {
        let (a, c, d) = self.net.plan.counts();
        Applied {
            net_ops: a + c + d,
            firewall_changes: self.firewall.plan.changes.len(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("reading the kernel's state")]
    Read(#[source] KernelError),
    #[error("reading the firewall")]
    ReadFirewall(#[source] FirewallError),
    #[error("applying the firewall (nothing of this apply remains)")]
    Firewall(#[source] FirewallError),
    #[error("applying interfaces, addresses, routes and rules (the firewall was put back)")]
    Net(#[source] ApplyError),
    #[error("BGP (BIRD left with the config it had)")]
    Bgp(#[source] crate::bgp::BgpError),
    #[error("{0}")]
    Refused(String),
    /// A bug outside the parts that put the router back themselves.
    #[error("the apply stopped on an internal error (a bug, please report it): {0}; the router may differ from before")]
    Panicked(String),
}

/// [`Router::apply`], with a panic (there must be none) turned into an error, so that the
/// caller stays up and goes on (the daemon falls back to the store's history).
pub fn apply_caught<R: Router + ?Sized>(
    router: &mut R,
    config: &ValidConfig,
) -> Result<Applied, RouterError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| router.apply(config)))
        .unwrap_or_else(|p| Err(RouterError::Panicked(crate::reconcile::panic_text(&*p))))
}

/// A router the agent can configure and read.
pub trait Router: Send {
    /// Brings the router to `config`, or leaves it as it was and says why.
    fn apply(&mut self, config: &ValidConfig) -> Result<Applied, RouterError>;

    /// The running config, as `show` prints it.
    fn running(&mut self) -> Result<Config, RouterError>;

    /// The running config as first read, before the agent changed anything: snapshots
    /// leave out what the config does not name and still is as it was then.
    fn before_agent(&self) -> Option<Config> {
        None
    }

    /// The router is about to stop running `config` (BGP announces GRACEFUL_SHUTDOWN).
    fn stopping(&mut self, _config: &ValidConfig) {}
}
