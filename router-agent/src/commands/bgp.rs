//! `router-agent bgp ...`.

use std::time::Duration;

use clap::Subcommand;

use super::{AnyError, Io};

#[derive(Debug, Subcommand)]
pub enum BgpCommand {
    /// Announce GRACEFUL_SHUTDOWN to every peer and wait, so that they move their traffic
    /// away before BIRD stops (the image's bird.service runs this as ExecStop).
    Drain {
        /// Seconds to wait after the announcement.
        #[arg(long, default_value_t = 5)]
        wait: u64,
    },
}

impl BgpCommand {
    pub fn exec(self, io: &mut Io<'_>) -> Result<(), AnyError> {
        match self {
            BgpCommand::Drain { wait } => writeln!(
                io.out,
                "{}",
                crate::bgp::cli::drain(Duration::from_secs(wait))?
            )?,
        }
        Ok(())
    }
}
