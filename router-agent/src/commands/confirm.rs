//! `router-agent confirm`.

use crate::confirm;

use super::{AnyError, Io};

#[derive(Debug, clap::Args)]
pub struct Confirm {
    #[arg(long, default_value = "/run/router-agent")]
    status_dir: std::path::PathBuf,
}

impl Confirm {
    pub fn exec(self, io: &mut Io<'_>) -> Result<(), AnyError> {
        let Confirm { status_dir } = self;
        confirm::confirm(&status_dir, &mut crate::bgp::cli::backend())?;
        writeln!(io.err, "confirmed: the applied config stays")?;
        Ok(())
    }
}
