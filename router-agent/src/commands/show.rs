//! `router-agent show`.

use crate::kernel::netns;
use crate::model;
use crate::router::{LinuxRouter, Router};

use super::{print_buffered, AnyError, Io};

/// iproute2's table names: the distribution's defaults, then the administrator's.
const RT_TABLES: [&str; 2] = ["/usr/share/iproute2/rt_tables", "/etc/iproute2/rt_tables"];

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
        // The kernel keeps table numbers only: iproute2's names where the system has them.
        let rt_tables = RT_TABLES
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect::<Vec<_>>()
            .join("\n");
        let names = model::names_from_rt_tables(&rt_tables, &config);
        let config = model::with_table_names(config, &names);
        let text = model::render_config(&config);
        if secrets {
            print_buffered(io.out, &text)?;
        } else {
            print_buffered(io.out, &model::redact_secrets(&text))?;
        }
        Ok(())
    }
}
