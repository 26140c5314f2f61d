//! Commit-confirm: an apply that undoes itself unless confirmed in time. The config that
//! ran before is kept in the status directory with a deadline; a detached waiter applies it
//! again at the deadline unless `router-agent confirm` removed the pending mark first. The
//! daemon holds its snapshots while a confirmation is pending, so an unconfirmed config
//! never reaches the store.
//!
//! BIRD takes part with its own commit-confirm: the apply ran `birdc configure timeout
//! SECS`, so BIRD goes back by itself should the waiter die; `confirm` runs `birdc
//! configure confirm`; the waiter puts the old bird.conf back and has BIRD load it, which
//! holds whether BIRD's timer fired first or not.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::bgp::{self, BgpError, Bird};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// Seconds since the Unix epoch after which the apply is undone.
    pub deadline: u64,
    /// Which apply this is: a later `apply --confirm` replaces the mark and its waiter.
    pub token: String,
    /// The apply reconfigured BIRD with a timeout: the bird.conf before it is saved beside
    /// the mark (no saved file: there was none).
    #[serde(default)]
    pub bird: bool,
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
    #[error("BIRD did not confirm; the whole apply is undone at the deadline")]
    BirdConfirm(#[source] BgpError),
    #[error("putting BIRD's config back")]
    BirdRollback(#[source] BgpError),
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

/// The bird.conf to go back to.
pub fn bird_rollback_path(status_dir: &Path) -> PathBuf {
    status_dir.join("confirm-rollback-bird.conf")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The deadline of an apply that starts now: taken before BIRD starts its own timer, so
/// the waiter is due no later than BIRD.
pub fn deadline_in(seconds: u64) -> u64 {
    now() + seconds
}

/// What to go back to.
#[derive(Debug, Clone, Copy)]
pub struct Rollback<'a> {
    /// The running config as TOML (interfaces, routes, rules, firewall).
    pub config: &'a str,
    /// The bird.conf before, when the apply reconfigured BIRD (`Some(None)`: there was none).
    pub bird: Option<Option<&'a str>>,
}

fn write_atomic(path: &Path, text: &str) -> Result<(), ConfirmError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir, "creating the status directory"))?;
    }
    // It holds the config to go back to, BGP passwords included: owner only.
    crate::store::atomic::write_file(path, text.as_bytes(), crate::store::atomic::PRIVATE)
        .map_err(io(path, "writing"))
}

/// Records what to go back to and the deadline (from [`deadline_in`]); returns the mark.
pub fn begin(
    status_dir: &Path,
    rollback: Rollback,
    deadline: u64,
) -> Result<Pending, ConfirmError> {
    let pending = Pending {
        deadline,
        token: format!("{}-{}", std::process::id(), now()),
        bird: rollback.bird.is_some(),
    };
    write_atomic(&rollback_path(status_dir), rollback.config)?;
    match rollback.bird {
        Some(Some(text)) => write_atomic(&bird_rollback_path(status_dir), text)?,
        _ => remove(&bird_rollback_path(status_dir))?,
    }
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

/// Keeps the applied config: BIRD confirms its new config (when the apply reconfigured
/// it), then the mark goes (the waiter then exits). When BIRD has nothing to confirm (its
/// timer fired first) the mark stays, so the waiter undoes the rest too.
pub fn confirm(status_dir: &Path, bird: &mut dyn Bird) -> Result<Pending, ConfirmError> {
    let p = pending(status_dir)?.ok_or(ConfirmError::NothingPending)?;
    if p.bird {
        bgp::confirm(bird).map_err(ConfirmError::BirdConfirm)?;
    }
    finish(status_dir)?;
    Ok(p)
}

/// The waiter's part for BIRD: the bird.conf before the apply back, and loaded.
pub fn roll_back_bird(status_dir: &Path, bird: &mut dyn Bird) -> Result<(), ConfirmError> {
    let Some(p) = pending(status_dir)? else {
        return Ok(());
    };
    if !p.bird {
        return Ok(());
    }
    let path = bird_rollback_path(status_dir);
    let before = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&path, "reading")(e)),
    };
    bgp::revert(bird, before.as_deref()).map_err(ConfirmError::BirdRollback)
}

fn remove(path: &Path) -> Result<(), ConfirmError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path, "removing")(e)),
    }
}

/// Removes the mark and the saved configs.
/// Records how an unconfirmed apply ended, for an operator whose terminal is gone.
pub fn record_result(status_dir: &Path, outcome: &str) -> Result<(), ConfirmError> {
    write_atomic(&result_path(status_dir), &format!("{outcome}\n"))
}

pub fn finish(status_dir: &Path) -> Result<(), ConfirmError> {
    for path in [
        pending_path(status_dir),
        rollback_path(status_dir),
        bird_rollback_path(status_dir),
    ] {
        remove(&path)?;
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

    use crate::bgp::FakeBird;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ra-confirm-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn plain(config: &str) -> Rollback<'_> {
        Rollback { config, bird: None }
    }

    #[test]
    fn begin_confirm_and_due() {
        let dir = temp("due");
        let mut bird = FakeBird::default();
        let p = begin(&dir, plain("version = 1\n"), deadline_in(0)).expect("begin");
        assert_eq!(due(&dir, &p.token).expect("due"), Due::RollBack);
        assert_eq!(due(&dir, "another").expect("due"), Due::Gone);
        assert_eq!(
            std::fs::read_to_string(rollback_path(&dir)).expect("saved"),
            "version = 1\n"
        );
        let p = begin(&dir, plain("version = 1\n"), deadline_in(3600)).expect("begin");
        assert_eq!(due(&dir, &p.token).expect("due"), Due::Wait);
        assert_eq!(confirm(&dir, &mut bird).expect("confirm"), p);
        assert_eq!(due(&dir, &p.token).expect("due"), Due::Gone);
        assert!(matches!(
            confirm(&dir, &mut bird),
            Err(ConfirmError::NothingPending)
        ));
        assert_eq!(bird.configures, 0, "BIRD was not part of it");
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    /// An apply --confirm as main.rs runs it against BIRD: configure with a timeout.
    fn apply_with_timeout(dir: &Path, bird: &mut FakeBird) -> Pending {
        let plan = bgp::BgpPlan::new(bird, &bgp::tests::sample()).expect("plan");
        bgp::apply(bird, &plan, Some(30)).expect("apply");
        let rollback = Rollback {
            config: "version = 1\n",
            bird: Some(plan.before.as_deref()),
        };
        begin(dir, rollback, deadline_in(3600)).expect("begin")
    }

    #[test]
    fn confirm_has_bird_confirm_too() {
        let dir = temp("bird-confirm");
        let mut bird = FakeBird::running_with("old");
        apply_with_timeout(&dir, &mut bird);
        assert!(bird.pending_undo.is_some());
        confirm(&dir, &mut bird).expect("confirm");
        assert!(bird.pending_undo.is_none(), "BIRD confirmed");
        bird.time_out();
        assert_ne!(
            bird.loaded.as_deref(),
            Some("old"),
            "BIRD keeps the new config"
        );
        assert!(pending(&dir).expect("read").is_none());
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn bird_that_went_back_by_itself_keeps_the_mark() {
        let dir = temp("bird-late");
        let mut bird = FakeBird::running_with("old");
        apply_with_timeout(&dir, &mut bird);
        bird.time_out();
        let e = confirm(&dir, &mut bird).expect_err("BIRD has nothing to confirm");
        assert!(matches!(
            e,
            ConfirmError::BirdConfirm(BgpError::NothingToConfirm)
        ));
        assert!(
            pending(&dir).expect("read").is_some(),
            "the waiter still rolls back"
        );
        // The waiter: bird.conf back as it was, BIRD loads it.
        roll_back_bird(&dir, &mut bird).expect("roll back");
        assert_eq!(bird.conf.as_deref(), Some("old"));
        assert_eq!(bird.loaded.as_deref(), Some("old"));
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn rollback_restores_bird_before_its_timer_fires() {
        let dir = temp("bird-rollback");
        let mut bird = FakeBird::running_with("old");
        apply_with_timeout(&dir, &mut bird);
        roll_back_bird(&dir, &mut bird).expect("roll back");
        assert_eq!(bird.conf.as_deref(), Some("old"));
        assert_eq!(bird.loaded.as_deref(), Some("old"));
        assert!(
            bird.pending_undo.is_none(),
            "the plain configure cancelled BIRD's timer"
        );
        finish(&dir).expect("finish");
        assert!(!bird_rollback_path(&dir).exists());
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
