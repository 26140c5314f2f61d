//! `router-agent rollback` (hidden): the waiter `apply --confirm` starts.

use std::time::Duration;

use crate::confirm;
use crate::kernel::netns;
use crate::model;
use crate::router::LinuxRouter;

use super::AnyError;

#[derive(Debug, clap::Args)]
pub struct Rollback {
    #[arg(long)]
    netns: Option<String>,
    #[arg(long)]
    status_dir: std::path::PathBuf,
    #[arg(long)]
    token: String,
}

impl Rollback {
    pub fn exec(self) -> Result<(), AnyError> {
        let Rollback {
            netns,
            status_dir,
            token,
        } = self;
        roll_back_unless_confirmed(netns.as_deref(), &status_dir, &token)
    }
}

/// The waiter: at the deadline, unless confirmed, applies the config that ran before.
fn roll_back_unless_confirmed(
    netns_name: Option<&str>,
    status_dir: &std::path::Path,
    token: &str,
) -> Result<(), AnyError> {
    if let Some(name) = netns_name {
        netns::enter(name)?;
    }
    loop {
        match confirm::due(status_dir, token)? {
            confirm::Due::Gone => return Ok(()),
            confirm::Due::Wait => std::thread::sleep(Duration::from_millis(500)),
            confirm::Due::RollBack => break,
        }
    }
    let path = confirm::rollback_path(status_dir);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config = model::load(&path.display().to_string(), &text)?;
    let net = crate::router::apply_caught(&mut LinuxRouter::open(netns_name.is_none())?, &config);
    // BIRD goes back even when the rest could not.
    let bird = confirm::roll_back_bird(status_dir, &mut crate::bgp::cli::backend());
    let result: Result<(), AnyError> = match (net, bird) {
        (Ok(_), Ok(())) => Ok(()),
        (Err(e), Ok(())) => Err(e.into()),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), Err(b)) => Err(format!("{e}; and BIRD: {b}").into()),
    };
    confirm::finish(status_dir)?;
    // The operator's terminal may be gone: the outcome goes to a file beside the status.
    let outcome = match &result {
        Ok(_) => "not confirmed in time: the config before the apply is back".to_owned(),
        Err(e) => format!("not confirmed in time, and rolling back FAILED: {e}"),
    };
    if let Err(e) = confirm::record_result(status_dir, &outcome) {
        tracing::warn!("{outcome}; and recording it failed: {e}");
    }
    result
}
