//! An in-memory [`Backend`]: transactions replace its state with their result.

use super::{Backend, Current, FirewallError, NftProblem, Transaction};

#[derive(Debug, Default)]
pub struct FakeBackend {
    pub current: Current,
    /// `check` and `run` refuse every transaction with this message.
    pub reject: Option<String>,
    /// After a run, the kernel shows this instead of the transaction's result.
    pub drift: Option<Current>,
    /// Transactions run (checks not counted).
    pub runs: usize,
    /// The marker of the agent's table after the last transaction.
    pub marker: Option<String>,
}

impl FakeBackend {
    fn refuse(&self) -> Result<(), FirewallError> {
        match &self.reject {
            Some(m) => Err(FirewallError::Rejected {
                problems: vec![NftProblem {
                    line: 1,
                    origin: None,
                    message: m.clone(),
                }],
            }),
            None => Ok(()),
        }
    }
}

impl Backend for FakeBackend {
    fn read(&mut self, _keep: &[String]) -> Result<Current, FirewallError> {
        Ok(self.current.clone())
    }

    fn check(&mut self, _tx: &Transaction) -> Result<(), FirewallError> {
        self.refuse()
    }

    fn run(&mut self, tx: &Transaction) -> Result<(), FirewallError> {
        self.refuse()?;
        self.runs += 1;
        self.current = match self.drift.take() {
            // Drift: the kernel shows something else, the marker is not there.
            Some(d) => {
                self.marker = None;
                d
            }
            None => {
                self.marker = tx.marker.clone();
                Current {
                    firewall: tx.result.clone(),
                    tables: tx.tables.clone(),
                }
            }
        };
        Ok(())
    }

    fn committed(&mut self, marker: &str) -> Result<bool, FirewallError> {
        Ok(self.marker.as_deref() == Some(marker))
    }
}
