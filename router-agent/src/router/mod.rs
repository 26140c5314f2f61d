//! The whole router behind one trait: apply a validated config (firewall and interfaces as
//! one step that is undone as a whole on failure) and read the running config back. The
//! daemon drives this; tests drive [`FakeRouter`].

mod fake;
mod linux;

use crate::firewall::FirewallError;
use crate::model::{Config, ValidConfig};
use crate::reconcile::{ApplyError, KernelError};

pub use fake::FakeRouter;
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
}

/// A router the agent can configure and read.
pub trait Router: Send {
    /// Brings the router to `config`, or leaves it as it was and says why.
    fn apply(&mut self, config: &ValidConfig) -> Result<Applied, RouterError>;

    /// The running config, as `show` prints it.
    fn running(&mut self) -> Result<Config, RouterError>;

    /// The router is about to stop running `config` (BGP announces GRACEFUL_SHUTDOWN).
    fn stopping(&mut self, _config: &ValidConfig) {}
}
