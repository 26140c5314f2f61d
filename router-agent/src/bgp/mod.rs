//! BGP through BIRD: [`Bgp`] rendered to bird.conf (`conf`, `file`: pure), checked with
//! `bird -p`, and loaded with `birdc configure`; sessions read back with
//! `birdc show protocols all` (`status`). The flow here is written against [`Bird`], so
//! it is tested with [`FakeBird`]; [`BirdCli`] drives the real programs.
//!
//! The agent never touches BIRD's routes in the kernel: it only writes BIRD's config.

mod birdc;
pub mod cli;
pub mod conf;
mod fake;
pub mod file;
pub mod status;

use std::fmt;

pub use birdc::BirdCli;
pub use fake::FakeBird;
pub use file::{parse_file, render_file, Read};
pub use status::{parse_protocols, Readout, Session};

use crate::model::bgp::Bgp;

/// The edge to BIRD.
pub trait Bird {
    /// The bird.conf BIRD reads (None: there is none).
    fn read_conf(&mut self) -> Result<Option<String>, BgpError>;
    /// Has BIRD parse `text` as a config (`bird -p`); nothing is loaded.
    fn parse_check(&mut self, text: &str) -> Result<(), BgpError>;
    /// Replaces bird.conf atomically (None: removes it).
    fn write_conf(&mut self, text: Option<&str>) -> Result<(), BgpError>;
    /// Whether a BIRD answers on the control socket.
    fn running(&mut self) -> bool;
    /// `birdc configure`: load bird.conf. With a timeout, BIRD goes back to the previous
    /// config unless [`Bird::confirm`] comes first.
    fn configure(&mut self, timeout: Option<u32>) -> Result<(), BgpError>;
    /// `birdc configure confirm`; false: nothing was waiting for a confirmation.
    fn confirm(&mut self) -> Result<bool, BgpError>;
    /// Back to the config before the last `configure` (while its timeout runs).
    fn undo(&mut self) -> Result<(), BgpError>;
    /// `birdc show protocols all`.
    fn protocols(&mut self) -> Result<String, BgpError>;
}

#[derive(Debug, thiserror::Error)]
pub enum BgpError {
    #[error("cannot run {program} ({error}); install the bird2 package")]
    Spawn {
        program: String,
        error: std::io::Error,
    },
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("BIRD rejects the generated config; BIRD was not touched:\n{message}")]
    Rejected { message: String },
    #[error("birdc {command}: {message}")]
    Birdc { command: String, message: String },
    #[error("{origin}: cannot read the BGP section back: {message}")]
    ReadBack { origin: String, message: String },
    #[error(
        "BIRD is not running (no answer on {socket}); start it with `bird -c {conf} -s {socket}`"
    )]
    NotRunning { socket: String, conf: String },
    #[error(
        "BIRD has no new config waiting for a confirmation: its timeout ran out (or it \
         restarted), so it runs the config from before the apply again"
    )]
    NothingToConfirm,
    #[error("{error}\nPUTTING BIRD'S CONFIG BACK FAILED too: {restore}")]
    RestoreFailed {
        error: Box<BgpError>,
        restore: Box<BgpError>,
    },
}

/// What `apply` would change in bird.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpPlan {
    pub before: Option<String>,
    pub after: String,
}

impl BgpPlan {
    pub fn new(bird: &mut dyn Bird, desired: &Bgp) -> Result<BgpPlan, BgpError> {
        Ok(BgpPlan {
            before: bird.read_conf()?,
            after: render_file(desired),
        })
    }
    pub fn is_empty(&self) -> bool {
        self.before.as_deref() == Some(self.after.as_str())
    }
}

const DIFF_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(100);

impl fmt::Display for BgpPlan {
    /// A unified diff of bird.conf; nothing when unchanged.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.is_empty() {
            return Ok(());
        }
        let before = self.before.as_deref().unwrap_or("");
        // Myers' diff is quadratic in the size of the change: 1.4 s for a first 500-peer
        // bird.conf (27k new lines). Past the deadline the diff is still correct, only
        // maybe not the shortest.
        let diff = similar::TextDiff::configure()
            .timeout(DIFF_TIMEOUT)
            .diff_lines(before, &self.after);
        let old = if self.before.is_some() {
            "bird.conf (running)"
        } else {
            "/dev/null"
        };
        write!(
            f,
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .header(old, "bird.conf (config)")
        )
    }
}

/// What an apply did.
#[derive(Debug)]
pub struct Report {
    pub changed: bool,
    /// Whether BIRD loaded the config (false: it was not running).
    pub reconfigured: bool,
}

/// Checks the plan's file with `bird -p`, writes it, and has BIRD load it. On any failure
/// bird.conf is put back and BIRD keeps running the config it had. With `timeout`, BIRD
/// itself goes back to the old config unless [`confirm`] follows in time.
pub fn apply(
    bird: &mut dyn Bird,
    plan: &BgpPlan,
    timeout: Option<u32>,
) -> Result<Report, BgpError> {
    if plan.is_empty() {
        tracing::info!("bird.conf already matches the config; BIRD not reconfigured");
        return Ok(Report {
            changed: false,
            reconfigured: false,
        });
    }
    bird.parse_check(&plan.after)?;
    bird.write_conf(Some(&plan.after))?;
    if !bird.running() {
        tracing::info!("BIRD is not running; it reads the new bird.conf when it starts");
        return Ok(Report {
            changed: true,
            reconfigured: false,
        });
    }
    tracing::info!(?timeout, "reconfiguring BIRD");
    if let Err(error) = bird.configure(timeout) {
        tracing::warn!("BIRD refused the config; putting bird.conf back");
        return Err(match bird.write_conf(plan.before.as_deref()) {
            Ok(()) => error,
            Err(restore) => BgpError::RestoreFailed {
                error: Box::new(error),
                restore: Box::new(restore),
            },
        });
    }
    Ok(Report {
        changed: true,
        reconfigured: true,
    })
}

/// Keeps the config loaded by an [`apply`] with a timeout.
pub fn confirm(bird: &mut dyn Bird) -> Result<(), BgpError> {
    if bird.confirm()? {
        tracing::info!("BIRD keeps its new config");
        Ok(())
    } else {
        Err(BgpError::NothingToConfirm)
    }
}

/// Puts `before` back as bird.conf (None: there was none; BIRD, with no file to load,
/// keeps what it runs) and has a running BIRD load it. A plain `configure` also cancels BIRD's own undo timer, and works whether or not that
/// timer already fired: it is how the agent's rollback and a failed apply end.
pub fn revert(bird: &mut dyn Bird, before: Option<&str>) -> Result<(), BgpError> {
    bird.write_conf(before)?;
    if before.is_some() && bird.running() {
        tracing::info!("BIRD loads bird.conf as it was before");
        bird.configure(None)?;
    }
    Ok(())
}

/// Before the router stops: the same config with GRACEFUL_SHUTDOWN on every route sent,
/// so peers move their traffic away before the sessions drop (RFC 8326). Does nothing
/// when `graceful_shutdown_on_stop` is off or BIRD is not running. bird.conf itself is
/// left as configured: the next boot starts without the community.
pub fn announce_shutdown(bird: &mut dyn Bird, bgp: &Bgp) -> Result<bool, BgpError> {
    if !bgp.graceful_shutdown_on_stop || bgp.graceful_shutdown || !bird.running() {
        return Ok(false);
    }
    let before = bird.read_conf()?;
    let mut draining = bgp.clone();
    draining.graceful_shutdown = true;
    let text = render_file(&draining);
    bird.parse_check(&text)?;
    bird.write_conf(Some(&text))?;
    let loaded = bird.configure(None);
    bird.write_conf(before.as_deref())?;
    loaded?;
    tracing::info!("GRACEFUL_SHUTDOWN announced to every peer");
    Ok(true)
}

#[cfg(test)]
pub(crate) mod tests;
