//! A store directory on disk: made if missing, locked for one server, cleared of what a
//! killed server left behind.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::error::ServeError;
use super::git::Git;

/// The bare repository of a store directory.
pub fn repository(dir: &Path) -> PathBuf {
    dir.join("configs.git")
}

/// One server per directory: two would each think their lock on a router is the only one.
pub(super) fn lock(dir: &Path) -> Result<File, ServeError> {
    let path = dir.join("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ServeError::Dir {
            what: format!("opening {}", path.display()),
            source,
        })?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |e| ServeError::Locked {
            dir: dir.to_owned(),
            source: e.into(),
        },
    )?;
    Ok(file)
}

/// A new bare repository, made beside and renamed into place: a kill during `git init`
/// leaves no half-made repository.
pub(super) async fn init(dir: &Path, repo: &Path) -> Result<(), ServeError> {
    let temp = dir.join(format!("configs.git.tmp-{}", std::process::id()));
    let git_err = |what: &'static str| move |source| ServeError::Git { what, source };
    let _ = std::fs::remove_dir_all(&temp);
    let git = Git::new(&temp);
    git.ok(&["init", "--bare", "--quiet"], None)
        .await
        .map_err(git_err("git init"))?;
    for (key, value) in [
        // Objects and refs reach the disk before a write is acknowledged.
        ("core.fsync", "committed"),
        // An operator's push adds to a router's history; even a forced one takes nothing.
        ("receive.denyNonFastForwards", "true"),
        ("receive.denyDeletes", "true"),
    ] {
        git.ok(&["config", key, value], None)
            .await
            .map_err(git_err("git config"))?;
    }
    std::fs::rename(&temp, repo)
        .and_then(|()| File::open(dir)?.sync_all())
        .map_err(|source| ServeError::Dir {
            what: format!("moving the new repository to {}", repo.display()),
            source,
        })?;
    tracing::info!("made a new bare repository {}", repo.display());
    Ok(())
}

/// Ref lock files a killed git left behind; we hold the directory's lock, so no git of
/// ours runs. (A concurrent operator's `git push` would only fail and be retried.)
pub(super) fn clear_stale_locks(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            clear_stale_locks(&path)?;
        } else if path.extension().is_some_and(|e| e == "lock") {
            tracing::warn!("removing {}, left by an interrupted git", path.display());
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
