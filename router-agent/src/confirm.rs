//! Commit-confirm: an apply that undoes itself unless confirmed in time. The config that
//! ran before is kept in the status directory with a deadline; a detached waiter applies it
//! again at the deadline unless `router-agent confirm` removed the pending mark first. The
//! daemon holds its snapshots while a confirmation is pending, so an unconfirmed config
//! never reaches the store.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// Seconds since the Unix epoch after which the apply is undone.
    pub deadline: u64,
    /// Which apply this is: a later `apply --confirm` replaces the mark and its waiter.
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error("{path}: {what}")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a pending confirmation ({detail}); remove it")]
    Corrupt { path: PathBuf, detail: String },
    #[error("nothing to confirm: no apply --confirm is pending")]
    NothingPending,
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> ConfirmError + 'a {
    move |source| ConfirmError::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

/// The pending mark; the daemon holds snapshots while it exists.
pub fn pending_path(status_dir: &Path) -> PathBuf {
    status_dir.join("confirm-pending")
}

/// What the last rollback did (the waiter has no terminal to say it on).
pub fn result_path(status_dir: &Path) -> PathBuf {
    status_dir.join("confirm-result")
}

/// The config to go back to.
pub fn rollback_path(status_dir: &Path) -> PathBuf {
    status_dir.join("confirm-rollback.toml")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn write_atomic(path: &Path, text: &str) -> Result<(), ConfirmError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir, "creating the status directory"))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io(&tmp, "writing"))?;
    std::fs::rename(&tmp, path).map_err(io(path, "renaming into place"))
}

/// Records the config to go back to and the deadline; returns the mark.
pub fn begin(status_dir: &Path, rollback: &str, seconds: u64) -> Result<Pending, ConfirmError> {
    let pending = Pending {
        deadline: now() + seconds,
        token: format!("{}-{}", std::process::id(), now()),
    };
    write_atomic(&rollback_path(status_dir), rollback)?;
    let text = toml::to_string(&pending).map_err(|e| ConfirmError::Corrupt {
        path: pending_path(status_dir),
        detail: e.to_string(),
    })?;
    write_atomic(&pending_path(status_dir), &text)?;
    Ok(pending)
}

/// The pending mark, if any.
pub fn pending(status_dir: &Path) -> Result<Option<Pending>, ConfirmError> {
    let path = pending_path(status_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)
            .map(Some)
            .map_err(|e| ConfirmError::Corrupt {
                path,
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path, "reading")(e)),
    }
}

/// Keeps the applied config: removes the mark (the waiter then exits).
pub fn confirm(status_dir: &Path) -> Result<Pending, ConfirmError> {
    let p = pending(status_dir)?.ok_or(ConfirmError::NothingPending)?;
    finish(status_dir)?;
    Ok(p)
}

/// Removes the mark and the saved config.
pub fn finish(status_dir: &Path) -> Result<(), ConfirmError> {
    for path in [pending_path(status_dir), rollback_path(status_dir)] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, "removing")(e)),
        }
    }
    Ok(())
}

/// What the waiter does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Confirmed, or replaced by a later apply: nothing to do.
    Gone,
    Wait,
    RollBack,
}

pub fn due(status_dir: &Path, token: &str) -> Result<Due, ConfirmError> {
    Ok(match pending(status_dir)? {
        Some(p) if p.token != token => Due::Gone,
        None => Due::Gone,
        Some(p) if now() >= p.deadline => Due::RollBack,
        Some(_) => Due::Wait,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_confirm_and_due() {
        let dir = std::env::temp_dir().join(format!("ra-confirm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = begin(&dir, "version = 1\n", 0).expect("begin");
        assert_eq!(due(&dir, &p.token).expect("due"), Due::RollBack);
        assert_eq!(due(&dir, "another").expect("due"), Due::Gone);
        assert_eq!(
            std::fs::read_to_string(rollback_path(&dir)).expect("saved"),
            "version = 1\n"
        );
        let p = begin(&dir, "version = 1\n", 3600).expect("begin");
        assert_eq!(due(&dir, &p.token).expect("due"), Due::Wait);
        assert_eq!(confirm(&dir).expect("confirm"), p);
        assert_eq!(due(&dir, &p.token).expect("due"), Due::Gone);
        assert!(matches!(confirm(&dir), Err(ConfirmError::NothingPending)));
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
