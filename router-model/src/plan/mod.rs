//! Planning: the difference between a desired and a current [`NetState`](crate::NetState)
//! as an ordered list of operations. Each operation carries the state it replaces, so the
//! way back is known before anything is written. Pure: no kernel, no clock. The phases and
//! their order are described in `diff.rs`.

mod diff;
mod fates;
mod kinds;
mod links;
mod op;
mod renames;
mod routes;

use std::fmt;

pub use diff::diff;
pub use op::{KindText, LinkChange, Op, RouteText, RuleText};
pub use routes::route_matches;

use crate::{IfName, MacAddr};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub ops: Vec<Op>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operations that undo `ops[..done]`, last first.
    pub fn revert(&self, done: &[usize]) -> Vec<Op> {
        done.iter().rev().map(|i| self.ops[*i].inverse()).collect()
    }

    /// The whole revert plan, as it would run if every operation succeeded.
    pub fn full_revert(&self) -> Vec<Op> {
        self.ops.iter().rev().map(Op::inverse).collect()
    }

    /// (to add, to change, to remove)
    pub fn counts(&self) -> (usize, usize, usize) {
        self.ops
            .iter()
            .fold((0, 0, 0), |(a, c, d), op| match op.sign() {
                '+' => (a + 1, c, d),
                '-' => (a, c, d + 1),
                _ => (a, c + 1, d),
            })
    }

    /// The one-line summary that ends `plan` output.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "No changes: the kernel matches the config.".to_owned();
        }
        let (a, c, d) = self.counts();
        format!("Plan: {a} to add, {c} to change, {d} to remove.")
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for op in &self.ops {
            writeln!(f, "  {op}")?;
        }
        writeln!(f, "{}", self.summary())
    }
}

/// Why a config cannot be planned against this system.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("physical interface {name} does not exist; physical interfaces are never created: check the name, or match it by MAC with physical = {{ match_mac = \"...\" }}")]
    MissingInterface { name: IfName },
    #[error("no interface has MAC {mac}, which physical interface {name} should match")]
    NoSuchMac { name: IfName, mac: MacAddr },
    #[error("{name} is a physical interface here; it cannot become a {kind}: rename the {kind}")]
    NotVirtual { name: IfName, kind: &'static str },
    #[error("cannot rename {by_mac_of} to {name}: another interface is named {name}")]
    NameTaken { name: IfName, by_mac_of: IfName },
    #[error("sysctl {key} does not exist in this kernel")]
    UnknownSysctl { key: String },
}
