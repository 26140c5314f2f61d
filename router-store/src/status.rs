//! Routers' status records (`DIR/status/<id>.json`): replaced whole on every report
//! ([`atomic::write_file`]), and never committed: a heartbeat a minute from every router
//! would bury the configs' history.

use std::fs::{DirBuilder, File};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use router_store_client::status::MAX_STATUS;
use router_store_client::{atomic, RouterId};

const SUFFIX: &str = ".json";

#[derive(Debug)]
pub struct StatusDir {
    root: PathBuf,
}

impl StatusDir {
    /// Records under `root` (made, mode 0700, if missing); temporary files a killed
    /// server left are removed.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        DirBuilder::new().recursive(true).mode(0o700).create(root)?;
        atomic::remove_stale_temps(root)?;
        Ok(StatusDir {
            root: root.to_owned(),
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
        atomic::write_file(&self.path(id), bytes, atomic::PRIVATE)
    }
}
