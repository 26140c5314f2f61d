//! The firewall: [`Firewall`] compiled to nftables (`compile`, pure), written as one atomic
//! `nft -f` transaction (`script`), read back and decompiled (`decompile`, `listing`).
//! The flow here (plan, check, apply, verify, revert) is written against [`Backend`], so it
//! is tested with [`FakeBackend`]; [`NftBackend`] drives the real `nft`.

pub mod compile;
pub mod decompile;
mod fake;
pub mod listing;
mod nft;
mod plan;
pub mod script;

use std::collections::BTreeMap;
use std::fmt;

pub use fake::FakeBackend;
pub use nft::NftBackend;
pub use plan::{plan, Change, FirewallPlan};

use crate::model::firewall::Firewall;
use crate::model::Seg;
use script::Script;

/// What the kernel holds: the agent's table (None: absent) and the text of other tables
/// the config keeps or the agent's table says it keeps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Current {
    pub firewall: Option<Firewall>,
    /// `family name` to the table's text, for those that exist.
    pub tables: BTreeMap<String, String>,
}

/// The edge to nftables.
pub trait Backend {
    /// Reads the agent's table and the tables named in `keep` (as `family name`).
    fn read(&mut self, keep: &[String]) -> Result<Current, FirewallError>;
    /// Checks a transaction without applying it (`nft -c`).
    fn check(&mut self, tx: &Transaction) -> Result<(), FirewallError>;
    /// Applies a transaction atomically: all of it or nothing.
    fn run(&mut self, tx: &Transaction) -> Result<(), FirewallError>;
    /// Whether the agent's table carries `marker` in its comment: then the transaction
    /// that wrote it committed whole (nft transactions are atomic).
    fn committed(&mut self, marker: &str) -> Result<bool, FirewallError>;
}

/// One nft transaction, and the firewall it leaves (what the fake backend keeps).
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    pub script: Script,
    /// The marker the agent's table carries after the transaction (None: no agent table,
    /// or the transaction leaves it as it was).
    pub marker: Option<String>,
    pub result: Option<Firewall>,
    /// Kept tables' text after the transaction.
    pub tables: BTreeMap<String, String>,
}

/// One complaint of nft's about a transaction, placed in the config where possible.
#[derive(Debug, Clone, PartialEq)]
pub struct NftProblem {
    /// Line in the transaction's text.
    pub line: usize,
    pub origin: Option<Vec<Seg>>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("cannot run nft ({0}); install the nftables package")]
    Spawn(std::io::Error),
    #[error("cannot run nft in an empty network namespace of its own ({0}); check needs util-linux's unshare, nftables, and root or user namespaces")]
    Scratch(String),
    #[error("{context}: {message}")]
    Read { context: String, message: String },
    #[error("{what} changed while the firewall was read; run the command again")]
    Changed { what: String },
    #[error(
        "nft rejected the firewall; nothing was changed:\n{}",
        Problems(problems)
    )]
    Rejected { problems: Vec<NftProblem> },
    #[error(transparent)]
    Unsupported(#[from] script::Unsupported),
    #[error("the firewall differs from the config after applying; it was reverted. Still different:\n{0}")]
    NotConverged(String),
    #[error("{error}\nREVERT FAILED, the firewall differs from before: {revert}")]
    RevertFailed {
        error: Box<FirewallError>,
        revert: Box<FirewallError>,
    },
}

impl FirewallError {
    pub fn read(context: impl Into<String>, message: String) -> FirewallError {
        FirewallError::Read {
            context: context.into(),
            message,
        }
    }
    pub fn changed(what: String) -> FirewallError {
        FirewallError::Changed { what }
    }
}

struct Problems<'a>(&'a [NftProblem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match &p.origin {
                Some(path) => write!(f, "  {}: {}", path_text(path), p.message)?,
                None => write!(f, "  line {} of the transaction: {}", p.line, p.message)?,
            }
        }
        Ok(())
    }
}

fn path_text(path: &[Seg]) -> String {
    crate::model::Problem {
        path: path.to_vec(),
        message: String::new(),
    }
    .path_string()
}

/// What a firewall apply did.
#[derive(Debug)]
pub struct Report {
    pub plan: FirewallPlan,
    /// The firewall as read after the apply (before it, when nothing was to be done).
    pub state: Current,
}

/// Reads what `desired` needs compared: the agent's table and the tables it keeps.
pub fn read_for(
    backend: &mut dyn Backend,
    desired: Option<&Firewall>,
) -> Result<Current, FirewallError> {
    let keep: Vec<String> = desired
        .map(|d| d.tables.iter().map(|t| t.id()).collect())
        .unwrap_or_default();
    backend.read(&keep)
}

/// Checks the plan's transaction with nft without applying anything.
pub fn check(backend: &mut dyn Backend, plan: &FirewallPlan) -> Result<(), FirewallError> {
    match &plan.apply {
        Some(tx) => backend.check(tx),
        None => Ok(()),
    }
}

/// Applies the plan, verifies, and reverts on a mismatch. A transaction that rewrote the
/// agent's table is verified by its marker in the table's comment (nft commits all of a
/// transaction or none); otherwise by reading back and comparing.
pub fn apply(
    backend: &mut dyn Backend,
    desired: Option<&Firewall>,
    plan: FirewallPlan,
    before: Current,
) -> Result<Report, FirewallError> {
    let Some(tx) = &plan.apply else {
        tracing::info!("firewall already matches the config; no nft transaction");
        return Ok(Report {
            plan,
            state: before,
        });
    };
    tracing::info!(
        changes = plan.changes.len(),
        "applying the firewall in one nft transaction"
    );
    backend.run(tx)?;
    if let Some(marker) = &tx.marker {
        if backend.committed(marker)? {
            tracing::debug!("the agent's table carries marker {marker}: the transaction committed");
            let state = Current {
                firewall: tx.result.clone(),
                tables: tx.tables.clone(),
            };
            return Ok(Report { plan, state });
        }
        tracing::warn!(
            "the agent's table lacks marker {marker} after the transaction; reading it back"
        );
    }
    let after = read_for(backend, desired)?;
    let same = match (desired, &after.firewall) {
        (None, None) => true,
        (Some(d), Some(a)) => plan::same_owned_but_raw_text(d, a),
        _ => false,
    };
    if !same {
        let residual = plan::plan(desired, &after)?;
        let text = residual.to_string();
        tracing::warn!("firewall differs after applying; reverting");
        revert(backend, &plan).map_err(|e| FirewallError::RevertFailed {
            error: Box::new(FirewallError::NotConverged(text.clone())),
            revert: Box::new(e),
        })?;
        return Err(FirewallError::NotConverged(text));
    }
    Ok(Report { plan, state: after })
}

/// Puts back what was there before `plan` was applied.
pub fn revert(backend: &mut dyn Backend, plan: &FirewallPlan) -> Result<(), FirewallError> {
    match &plan.revert {
        Some(tx) => backend.run(tx),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
