//! `router-agent show`.

use crate::kernel::netns;
use crate::model;
use crate::router::{LinuxRouter, Router};

use super::{print_buffered, AnyError, Io};

#[derive(Debug, clap::Args)]
pub struct Show {
    #[arg(long)]
    netns: Option<String>,
    /// Print WireGuard private and preshared keys instead of "(hidden)".
    #[arg(long)]
    secrets: bool,
}

impl Show {
    pub fn exec(self, io: &mut Io<'_>) -> Result<(), AnyError> {
        let Show { netns, secrets } = self;
        if let Some(name) = &netns {
            netns::enter(name)?;
        }
        let config = LinuxRouter::open(netns.is_none())?.running()?;
        let text = model::render_config(&config);
        if secrets {
            print_buffered(io.out, &text)?;
        } else {
            print_buffered(io.out, &model::redact_secrets(&text))?;
        }
        Ok(())
    }
}
