//! `router-agent show`.

use router_agent::kernel::netns;
use router_agent::model;
use router_agent::router::{LinuxRouter, Router};

use super::{print_buffered, AnyError};

#[derive(Debug, clap::Args)]
pub struct Show {
    #[arg(long)]
    netns: Option<String>,
    /// Print WireGuard private and preshared keys instead of "(hidden)".
    #[arg(long)]
    secrets: bool,
}

impl Show {
    pub fn exec(self) -> Result<(), AnyError> {
        let Show { netns, secrets } = self;
        if let Some(name) = &netns {
            netns::enter(name)?;
        }
        let config = LinuxRouter::open(netns.is_none())?.running()?;
        let text = model::render_config(&config);
        if secrets {
            print_buffered(&text)?;
        } else {
            print_buffered(&model::redact_secrets(&text))?;
        }
        Ok(())
    }
}
