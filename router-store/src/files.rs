//! Files kept beside a router's config (SSH host keys): plain files, mode 0600, written
//! atomically (temporary file, fsync, rename, fsync of the directory). Not in git: a
//! secret in history could never be taken back.

use std::fs::DirBuilder;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use router_store_client::{atomic, FileName, RouterId};

#[derive(Debug)]
pub struct FileDir {
    root: PathBuf,
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
            // A temp name starts with a dot, which a FileName cannot.
            atomic::remove_stale_temps(&router.path())?;
        }
        Ok(FileDir {
            root: root.to_owned(),
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
        atomic::write_file(&self.path(id, name), bytes, atomic::PRIVATE)
    }
}
