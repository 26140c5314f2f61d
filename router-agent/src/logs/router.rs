//! The forwarder told of every config applied: a [`Router`] that wraps another.

use crate::model::{Config, ValidConfig};
use crate::router::{Applied, Router, RouterError};

use super::Handle;

/// `inner`, and once a config is applied, its `[logging]` names the collector.
#[derive(Debug)]
pub struct Logged<R> {
    pub inner: R,
    pub logs: Handle,
}

impl<R: Router> Router for Logged<R> {
    fn apply(&mut self, config: &ValidConfig) -> Result<Applied, RouterError> {
        let applied = self.inner.apply(config)?;
        self.logs.configured(config.config.logging.as_ref());
        Ok(applied)
    }
    fn running(&mut self) -> Result<Config, RouterError> {
        self.inner.running()
    }
    fn before_agent(&self) -> Option<Config> {
        self.inner.before_agent()
    }
    fn stopping(&mut self, config: &ValidConfig) {
        self.inner.stopping(config)
    }
}
