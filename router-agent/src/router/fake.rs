//! A router in memory: its running config is whatever was applied or set "by hand".

use std::collections::BTreeSet;

use super::{Applied, Router, RouterError};
use crate::model::{Config, ValidConfig};

#[derive(Debug, Default)]
pub struct FakeRouter {
    pub config: Config,
    /// Hostnames whose configs this router refuses, as a kernel would refuse a bad config.
    pub refuse_hostnames: BTreeSet<String>,
    /// Every config applied, oldest first.
    pub applied: Vec<Config>,
}

impl Router for FakeRouter {
    fn apply(&mut self, config: &ValidConfig) -> Result<Applied, RouterError> {
        if let Some(h) = &config.config.hostname {
            if self.refuse_hostnames.contains(h) {
                return Err(RouterError::Refused(format!("hostname {h:?} refused")));
            }
        }
        let changed = self.config != config.config;
        self.config = config.config.clone();
        self.applied.push(config.config.clone());
        Ok(Applied {
            net_ops: usize::from(changed),
            firewall_changes: 0,
        })
    }

    fn running(&mut self) -> Result<Config, RouterError> {
        Ok(self.config.clone())
    }
}
