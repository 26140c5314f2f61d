//! Files kept beside a router's config (SSH host keys): plain files, mode 0600, written
//! atomically (temporary file, fsync, rename, fsync of the directory). Not in git: a
//! secret in history could never be taken back.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use router_store_client::{FileName, RouterId};

/// Temporary files start with this; a [`FileName`] cannot (no leading dot).
const TEMP_PREFIX: &str = ".tmp-";

#[derive(Debug)]
pub struct FileDir {
    root: PathBuf,
    next_temp: AtomicU64,
}

impl FileDir {
    /// Files under `root` (made, mode 0700, if missing); temporary files a killed server
    /// left behind are removed.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        DirBuilder::new().recursive(true).mode(0o700).create(root)?;
        for router in std::fs::read_dir(root)? {
            let router = router?;
            if !router.file_type()?.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(router.path())? {
                let file = file?;
                if file.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    tracing::info!(
                        "removing {}, left by an interrupted write",
                        file.path().display()
                    );
                    std::fs::remove_file(file.path())?;
                }
            }
        }
        Ok(FileDir {
            root: root.to_owned(),
            next_temp: AtomicU64::new(0),
        })
    }

    fn path(&self, id: &RouterId, name: &FileName) -> PathBuf {
        self.root.join(id.as_str()).join(name.as_str())
    }

    pub fn get(&self, id: &RouterId, name: &FileName) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(id, name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn put(&self, id: &RouterId, name: &FileName, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.root.join(id.as_str());
        DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()));
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&temp, self.path(id, name))?;
            File::open(&dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written
    }
}
