//! `router-agent plan`.

use crate::firewall::{self, NftBackend};
use crate::reconcile;

use super::{kernel, load_and_read, print_buffered, AnyError, Io};

#[derive(Debug, clap::Args)]
pub struct Plan {
    /// Act inside this network namespace (an `ip netns` name).
    #[arg(long)]
    netns: Option<String>,
    file: String,
}

impl Plan {
    pub fn exec(self, io: &mut Io<'_>) -> Result<(), AnyError> {
        let Plan { netns, file } = self;
        let mut k = kernel(netns.as_deref())?;
        let (desired, current, _) = load_and_read(&file, netns.as_deref(), &mut k)?;
        let net = reconcile::plan_from(&mut k, &desired.state, current)?;
        let mut nft = NftBackend::default();
        let before = firewall::read_for(&mut nft, desired.firewall.as_ref())?;
        let fw = firewall::plan(desired.firewall.as_ref(), &before)?;
        print_buffered(io.out, &net)?;
        print_buffered(io.out, &fw)?;
        print_buffered(io.out, &crate::bgp::cli::plan(desired.bgp.as_ref())?)?;
        Ok(())
    }
}
