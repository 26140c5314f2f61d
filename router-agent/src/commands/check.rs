//! `router-agent check`.

use crate::firewall::{self, NftBackend};
use crate::model;

use super::{load, locate_firewall_error, AnyError, Io};

#[derive(Debug, clap::Args)]
pub struct Check {
    file: String,
}

impl Check {
    pub fn exec(self, io: &mut Io<'_>) -> Result<(), AnyError> {
        let Check { file } = self;
        let v = load(&file)?;
        if let Some(fw) = &v.firewall {
            check_firewall(&file, fw)?;
        }
        let bgp_note = crate::bgp::cli::check(&file, v.bgp.as_ref())?;
        writeln!(
            io.out,
            "{file}: ok ({} interfaces, {} routes, {} rules, {} firewall rules)",
            v.state.links.len(),
            v.state.routes.len(),
            v.state.rules.len(),
            v.firewall.as_ref().map_or(0, |f| f.rule_count())
        )?;
        if !bgp_note.is_empty() {
            writeln!(io.out, "{bgp_note}")?;
        }
        Ok(())
    }
}

/// Has nft check the firewall's transaction (`nft -c`: nothing is applied), so raw
/// nftables text is validated too, in an empty network namespace of its own (the host's
/// ruleset is none of the config's business). Needs nft, and root or user namespaces.
fn check_firewall(file: &str, fw: &model::firewall::Firewall) -> Result<(), AnyError> {
    let mut nft = NftBackend::scratch();
    let current = firewall::Current::default();
    let plan = firewall::plan(Some(fw), &current)?;
    firewall::check(&mut nft, &plan).map_err(|e| match e {
        firewall::FirewallError::Spawn(_) => {
            format!("{e}; the firewall's raw nftables text could not be checked").into()
        }
        e => locate_firewall_error(file, e),
    })
}
