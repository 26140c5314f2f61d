//! A router in memory: its running config is whatever was applied or edited "by hand".
//! Clones share one router, so a test can edit it while the daemon owns a clone.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Applied, Router, RouterError};
use crate::model::{Config, ValidConfig};

#[derive(Debug, Default)]
pub struct FakeState {
    pub config: Config,
    /// Hostnames whose configs this router refuses, as a kernel would refuse a bad config.
    pub refuse_hostnames: BTreeSet<String>,
    /// Hostnames whose configs make apply panic (a bug, for the tests of what follows).
    pub panic_hostnames: BTreeSet<String>,
    /// Every config applied, oldest first.
    pub applied: Vec<Config>,
    /// What [`Router::before_agent`] says: the state before the agent, if a test sets it.
    pub before: Option<Config>,
}

#[derive(Debug, Clone, Default)]
pub struct FakeRouter(Arc<Mutex<FakeState>>);

impl FakeRouter {
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        // A test that panicked while holding the lock already failed.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Router for FakeRouter {
    fn apply(&mut self, config: &ValidConfig) -> Result<Applied, RouterError> {
        let mut s = self.state();
        if let Some(h) = &config.config.hostname {
            if s.refuse_hostnames.contains(h) {
                return Err(RouterError::Refused(format!("hostname {h:?} refused")));
            }
            if s.panic_hostnames.contains(h) {
                drop(s);
                panic!("injected panic applying hostname {h:?}");
            }
        }
        let changed = s.config != config.config;
        s.config = config.config.clone();
        s.applied.push(config.config.clone());
        Ok(Applied {
            net_ops: usize::from(changed),
            firewall_changes: 0,
        })
    }

    fn running(&mut self) -> Result<Config, RouterError> {
        Ok(self.state().config.clone())
    }

    fn before_agent(&self) -> Option<Config> {
        self.state().before.clone()
    }
}
