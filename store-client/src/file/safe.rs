//! Reading a store that may be hostile (a stick from anywhere, a share others write): no
//! symbolic link is followed, anywhere under the store's root; only regular files are read
//! (a FIFO would block forever, `/dev/zero` never ends); sizes are bounded; lock waits are
//! bounded.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{flock, openat2, FileType, FlockOperation, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// The largest file the store reads. A config with a million routes is about 40 MB; the
/// store server refuses bodies over 64 MiB by default.
pub(super) const MAX_READ: u64 = 128 << 20;

/// How long a reader or writer waits for another process's lock before giving up (a
/// writer killed while holding it releases it; one that hangs must not hang the router).
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(10);

fn resolve() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

/// Opens `path` (under `root`) without following any link on the way; `None` if absent.
fn open_beneath(root: &Path, path: &Path, flags: OFlags, mode: u32) -> io::Result<Option<File>> {
    let rel = path.strip_prefix(root).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is outside the store {}", path.display(), root.display()),
        )
    })?;
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let flags = flags | OFlags::CLOEXEC | OFlags::NOCTTY;
    match openat2(&dir, rel, flags, Mode::from_raw_mode(mode), resolve()) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::LOOP) | Err(Errno::XDEV) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is a symbolic link or is reached through one; the file store never \
                 follows links (replace it with the file itself)",
                path.display()
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Reads a regular file of at most `limit` bytes; `None` if it does not exist.
pub(super) fn read(root: &Path, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    let Some(file) = open_beneath(root, path, OFlags::RDONLY | OFlags::NONBLOCK, 0)? else {
        return Ok(None);
    };
    let stat = rustix::fs::fstat(&file)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is not a regular file (a FIFO, device or directory); the file store \
                 reads only regular files",
                path.display()
            ),
        ));
    }
    let too_big = || {
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "{} is larger than the file store reads ({} MiB)",
                path.display(),
                limit >> 20
            ),
        )
    };
    if u64::try_from(stat.st_size).unwrap_or(u64::MAX) > limit {
        return Err(too_big());
    }
    // The size may change under us: never read more than the limit.
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(Some(bytes))
}

/// Opens (creating it if `create`) and flocks `path`, waiting at most `wait`. `Ok(None)`:
/// no lock file and none can be made (a read-only stick: nobody writes, nobody to lock out).
pub(super) fn lock(root: &Path, path: &Path, wait: Duration) -> io::Result<Option<File>> {
    let file = match open_beneath(root, path, OFlags::RDWR | OFlags::CREATE, 0o600) {
        Ok(Some(file)) => file,
        Ok(None) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::ReadOnlyFilesystem => {
            match open_beneath(root, path, OFlags::RDONLY, 0)? {
                Some(file) => file,
                None => return Ok(None),
            }
        }
        Err(e) => return Err(e),
    };
    let start = Instant::now();
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Some(file)),
            Err(Errno::WOULDBLOCK) if start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(Errno::WOULDBLOCK) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} is locked by another process for over {wait:?} (a stuck writer? \
                         `fuser {}` names it)",
                        path.display(),
                        path.display()
                    ),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
}
