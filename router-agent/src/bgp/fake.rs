//! An in-memory [`Bird`]: a file, a loaded config, and BIRD's commit-confirm.

use super::{BgpError, Bird};

#[derive(Debug, Default)]
pub struct FakeBird {
    pub conf: Option<String>,
    /// The config BIRD runs (None: BIRD is not running).
    pub loaded: Option<String>,
    /// The config before an unconfirmed `configure` with a timeout.
    pub pending_undo: Option<String>,
    /// `parse_check` refuses text holding this.
    pub reject_containing: Option<String>,
    /// `configure` fails with this.
    pub configure_fails: Option<String>,
    pub protocols: String,
    pub configures: usize,
}

impl FakeBird {
    pub fn running_with(conf: &str) -> FakeBird {
        FakeBird {
            conf: Some(conf.to_owned()),
            loaded: Some(conf.to_owned()),
            ..FakeBird::default()
        }
    }
}

impl Bird for FakeBird {
    fn read_conf(&mut self) -> Result<Option<String>, BgpError> {
        Ok(self.conf.clone())
    }
    fn parse_check(&mut self, text: &str) -> Result<(), BgpError> {
        match &self.reject_containing {
            Some(bad) if text.contains(bad.as_str()) => Err(BgpError::Rejected {
                message: format!("syntax error near {bad}"),
            }),
            _ => Ok(()),
        }
    }
    fn write_conf(&mut self, text: Option<&str>) -> Result<(), BgpError> {
        self.conf = text.map(str::to_owned);
        Ok(())
    }
    fn running(&mut self) -> bool {
        self.loaded.is_some()
    }
    fn configure(&mut self, timeout: Option<u32>) -> Result<(), BgpError> {
        if let Some(m) = &self.configure_fails {
            return Err(BgpError::Birdc {
                command: "configure".into(),
                message: m.clone(),
            });
        }
        self.configures += 1;
        // As BIRD: a plain configure cancels a pending undo.
        self.pending_undo = timeout.and(self.loaded.clone());
        self.loaded = self.conf.clone();
        Ok(())
    }
    fn confirm(&mut self) -> Result<bool, BgpError> {
        Ok(self.pending_undo.take().is_some())
    }
    fn undo(&mut self) -> Result<(), BgpError> {
        match self.pending_undo.take() {
            Some(old) => {
                self.loaded = Some(old);
                Ok(())
            }
            None => Err(BgpError::Birdc {
                command: "configure undo".into(),
                message: "no reconfiguration to undo".into(),
            }),
        }
    }
    fn protocols(&mut self) -> Result<String, BgpError> {
        if self.loaded.is_none() {
            return Err(BgpError::NotRunning {
                socket: "fake.ctl".into(),
                conf: "fake.conf".into(),
            });
        }
        Ok(self.protocols.clone())
    }
}

impl FakeBird {
    /// BIRD's own undo timer fires: back to the config before, bird.conf as it is.
    pub fn time_out(&mut self) {
        if let Some(old) = self.pending_undo.take() {
            self.loaded = Some(old);
        }
    }
}
