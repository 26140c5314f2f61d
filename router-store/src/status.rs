//! Routers' status records (`DIR/status/<id>.json`): replaced whole on every report,
//! atomically (temporary file, fsync, rename), and never committed: a heartbeat a minute
//! from every router would bury the configs' history.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use router_store_client::status::MAX_STATUS;
use router_store_client::RouterId;

/// Temporary files start with a dot: no router id can.
const TEMP_PREFIX: &str = ".tmp-";
const SUFFIX: &str = ".json";

#[derive(Debug)]
pub struct StatusDir {
    root: PathBuf,
    next_temp: AtomicU64,
}

impl StatusDir {
    /// Records under `root` (made, mode 0700, if missing); temporary files a killed
    /// server left are removed.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        DirBuilder::new().recursive(true).mode(0o700).create(root)?;
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(StatusDir {
            root: root.to_owned(),
            next_temp: AtomicU64::new(0),
        })
    }

    fn path(&self, id: &RouterId) -> PathBuf {
        self.root.join(format!("{id}{SUFFIX}"))
    }

    /// The routers with a record.
    pub fn list(&self) -> std::io::Result<Vec<RouterId>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let name = entry?.file_name();
            let id = name
                .to_str()
                .and_then(|n| n.strip_suffix(SUFFIX))
                .and_then(|n| RouterId::new(n).ok());
            out.extend(id);
        }
        Ok(out)
    }

    /// At most one byte more than a record may have (enough to tell it is too large).
    pub fn get(&self, id: &RouterId) -> std::io::Result<Option<Vec<u8>>> {
        let file = match File::open(self.path(id)) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.take(MAX_STATUS as u64 + 1).read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    pub fn put(&self, id: &RouterId, bytes: &[u8]) -> std::io::Result<()> {
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        let temp = self
            .root
            .join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()));
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&temp, self.path(id))?;
            File::open(&self.root)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written
    }
}
