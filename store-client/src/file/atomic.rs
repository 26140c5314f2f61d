//! Crash-safe writes: a temp file beside the target, fsync, rename over the target, fsync
//! the directory. A crash leaves either the old file or the new one, never a torn one; at
//! worst a temp file, which readers never look at and the next writer removes.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Temp files start with a dot: no router id, file name or history entry can.
const TEMP_PREFIX: &str = ".tmp-";

/// Configs may hold BGP passwords and files hold host keys: owner only.
pub(super) const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

pub(super) fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let tmp = dir.join(format!("{TEMP_PREFIX}{}-{name}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        // Best effort: a leftover temp file is harmless and removed by the next writer.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `dir` (not its parents: a missing store root means an unmounted stick, and
/// writing into the mount point would vanish with the RAM root) and makes the new entry
/// durable.
pub(super) fn ensure_dir(dir: &Path) -> io::Result<()> {
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {
            let (parent, _) = split(dir)?;
            sync_dir(parent)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes temp files a crashed writer left in `dir`. Only called under the router's lock,
/// so no live writer owns them.
pub(super) fn remove_stale_temps(dir: &Path) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            tracing::debug!(path = %entry.path().display(), "removing a temp file left by an interrupted write");
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Reads a file, `None` if it does not exist.
pub(super) fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn split(path: &Path) -> io::Result<(&Path, String)> {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => Ok((dir, name.to_string_lossy().into_owned())),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no parent directory", path.display()),
        )),
    }
}
