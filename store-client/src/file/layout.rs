//! Where one router's things live under the store directory:
//!
//! ```text
//! DIR/<id>/config.toml          the current config, byte for byte
//! DIR/<id>/version              the history number of the current config
//! DIR/<id>/history/000042.toml  every version ever written (puts and archives)
//! DIR/<id>/history/000042.meta  its message and time (TOML)
//! DIR/<id>/files/<name>         files kept beside the config
//! DIR/<id>/.lock                flock'ed by every writer
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{FileName, RouterId};

#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub root: PathBuf,
    pub router: PathBuf,
    pub lock_wait: Duration,
}

impl Layout {
    pub fn new(root: &Path, id: &RouterId, lock_wait: Duration) -> Layout {
        Layout {
            root: root.to_owned(),
            router: root.join(id.as_str()),
            lock_wait,
        }
    }

    /// Reads one of the router's files, never through a link, at most
    /// [`super::safe::MAX_READ`] bytes; `None` if it does not exist.
    pub fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        super::safe::read(&self.root, path, super::safe::MAX_READ)
    }

    pub fn config(&self) -> PathBuf {
        self.router.join("config.toml")
    }

    pub fn version(&self) -> PathBuf {
        self.router.join("version")
    }

    pub fn lock(&self) -> PathBuf {
        self.router.join(".lock")
    }

    pub fn history(&self) -> PathBuf {
        self.router.join("history")
    }

    pub fn entry(&self, seq: u64) -> PathBuf {
        self.history().join(format!("{seq:06}.toml"))
    }

    pub fn meta(&self, seq: u64) -> PathBuf {
        self.history().join(format!("{seq:06}.meta"))
    }

    pub fn files(&self) -> PathBuf {
        self.router.join("files")
    }

    pub fn file(&self, name: &FileName) -> PathBuf {
        self.files().join(name.as_str())
    }
}

/// The history number in an entry's file name (`000042.toml` -> 42); `None` for anything
/// else (metas, temp files, an operator's notes).
pub(super) fn entry_seq(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_suffix(".toml")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A history entry's `.meta` file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Meta {
    pub unix_time: u64,
    pub message: String,
}
