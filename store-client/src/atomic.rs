//! Crash-safe writes, the one way every file of the agent and the store server is written:
//! a temp file beside the target, created with its final mode, fsync, rename over the
//! target, fsync the directory. A crash leaves either the old file or the new one, never a
//! torn one; at worst a temp file, which readers never look at and the file store's next
//! writer removes. The file never exists with wider permissions than asked for.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Temp files start with a dot: no router id, file name or history entry can.
const TEMP_PREFIX: &str = ".tmp-";

/// Configs may hold BGP passwords and files hold host keys: owner only.
pub const PRIVATE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// Tells apart the temp files of two threads of one process writing the same path.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` with permissions exactly `mode` (the umask neither widens nor
/// narrows them), atomically and durably. The directory must exist.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_file_owned(path, bytes, mode, None)
}

/// [`write_file`], and owned by `owner` (uid, gid) before it takes the path's name: a file
/// another daemon reads as its own user (bird.conf) is never briefly unreadable to it.
pub fn write_file_owned(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{TEMP_PREFIX}{}-{n}-{name}", std::process::id()));
    let result = (|| {
        // Created with the final mode (never wider while the bytes go in), then set exactly:
        // the umask may have taken bits the caller asked for (a 0755 script).
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        if let Some((uid, gid)) = owner {
            rustix::fs::fchown(
                &file,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )?;
        }
        rustix::fs::fchmod(&file, rustix::fs::Mode::from_raw_mode(mode))?;
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
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {
            let (parent, _) = split(dir)?;
            sync_dir(parent)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes temp files a crashed writer left in `dir`. Call it only where no live writer can
/// own them (under the file store's router lock, at the server's start).
pub fn remove_stale_temps(dir: &Path) -> io::Result<()> {
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
pub fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn the_mode_is_exactly_what_was_asked_whatever_the_umask() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 0o077 would take the script's group and other bits; 0o000 would widen a private
        // file to what OpenOptions defaults to (0666) if the mode were left to it.
        let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
        let script = dir.path().join("script");
        write_file(&script, b"#!/bin/sh\n", 0o755).expect("write");
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o000));
        let key = dir.path().join("key");
        write_file(&key, b"secret", PRIVATE).expect("write");
        rustix::process::umask(old);
        assert_eq!(mode(&script), 0o755);
        assert_eq!(mode(&key), 0o600);
    }

    #[test]
    fn a_rewrite_replaces_the_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("status");
        write_file(&path, b"one", 0o644).expect("write");
        write_file(&path, b"two", 0o644).expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["status"]);
    }

    #[test]
    fn a_missing_directory_is_an_error_not_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = write_file(&dir.path().join("gone/file"), b"x", PRIVATE).expect_err("no dir");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
