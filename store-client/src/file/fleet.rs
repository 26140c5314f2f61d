//! The fleet side of a `file://` store: which routers it holds, and their status records
//! (`DIR/<id>/status.json`, replaced atomically under the router's lock; not history).

use std::fs;
use std::io;
use std::path::Path;

use super::layout::Layout;
use crate::atomic;
use crate::status::MAX_STATUS;
use crate::RouterId;

const STATUS: &str = "status.json";

/// Directories of the root named like a router id that hold a config or a status record.
/// Anything else there (an operator's notes, `lost+found`) is not a router.
pub(super) fn list(root: &Path) -> io::Result<Vec<RouterId>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| RouterId::new(n).ok()) else {
            continue;
        };
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let layout = Layout::new(root, &id, super::safe::LOCK_WAIT);
        if layout.config().try_exists()? || layout.router.join(STATUS).try_exists()? {
            out.push(id);
        }
    }
    Ok(out)
}

pub(super) fn put_status(layout: &Layout, record: &[u8]) -> io::Result<()> {
    let _locked = layout.lock_for_write()?;
    atomic::write_file(&layout.router.join(STATUS), record, atomic::PRIVATE)
}

/// Never through a link, never more than a record may hold (a larger one is an error that
/// the listing shows against that router).
pub(super) fn get_status(layout: &Layout) -> io::Result<Option<Vec<u8>>> {
    super::safe::read(&layout.root, &layout.router.join(STATUS), MAX_STATUS as u64)
}
