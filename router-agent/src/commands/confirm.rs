//! `router-agent confirm`.

use router_agent::confirm;

use super::AnyError;

#[derive(Debug, clap::Args)]
pub struct Confirm {
    #[arg(long, default_value = "/run/router-agent")]
    status_dir: std::path::PathBuf,
}

impl Confirm {
    pub fn exec(self) -> Result<(), AnyError> {
        let Confirm { status_dir } = self;
        confirm::confirm(&status_dir, &mut router_agent::bgp::cli::backend())?;
        eprintln!("confirmed: the applied config stays");
        Ok(())
    }
}
