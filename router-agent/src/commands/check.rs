//! `router-agent check`.

use router_agent::firewall::{self, NftBackend};
use router_agent::model;

use super::{load, locate_firewall_error, AnyError};

#[derive(Debug, clap::Args)]
pub struct Check {
    file: String,
}

impl Check {
    pub fn exec(self) -> Result<(), AnyError> {
        let Check { file } = self;
        let v = load(&file)?;
        if let Some(fw) = &v.firewall {
            check_firewall(&file, fw)?;
        }
        let bgp_note = router_agent::bgp::cli::check(&file, v.bgp.as_ref())?;
        println!(
            "{file}: ok ({} interfaces, {} routes, {} rules, {} firewall rules)",
            v.state.links.len(),
            v.state.routes.len(),
            v.state.rules.len(),
            v.firewall.as_ref().map_or(0, |f| f.rule_count())
        );
        if !bgp_note.is_empty() {
            println!("{bgp_note}");
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
