//! Running `git` on the store's bare repository. The CLI rather than a library: the
//! repository is then exactly what operators' own git reads and writes (same lock files
//! for compare-and-swap, same fsync settings), and no C library or large crate is built
//! into the router image for the one process that serves the store.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git (is it installed? scripts/setup.sh installs it)")]
    Spawn(#[source] std::io::Error),
    #[error("git {args}: {status}: {stderr}")]
    Failed {
        args: String,
        status: ExitStatus,
        stderr: String,
    },
    #[error("git {args}: unexpected output: {detail}")]
    Output { args: String, detail: String },
}

/// One bare repository, run with no user or system configuration in the way.
#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
    /// GIT_* variables of our own environment (they would redirect git elsewhere).
    unset: Vec<OsString>,
}

/// What a git run gave back.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Git {
    pub fn new(dir: &Path) -> Self {
        let unset = std::env::vars_os()
            .map(|(k, _)| k)
            .filter(|k| k.to_string_lossy().starts_with("GIT_"))
            .collect();
        Git {
            dir: dir.to_owned(),
            unset,
        }
    }

    /// The repository's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `git ARGS` with `input` on stdin; any exit status.
    pub async fn run(&self, args: &[&str], input: Option<&[u8]>) -> Result<Ran, GitError> {
        let mut cmd = Command::new("git");
        for k in &self.unset {
            cmd.env_remove(k);
        }
        cmd.args(args)
            .env("GIT_DIR", &self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "router-agent store")
            .env("GIT_AUTHOR_EMAIL", "store@router-agent")
            .env("GIT_COMMITTER_NAME", "router-agent store")
            .env("GIT_COMMITTER_EMAIL", "store@router-agent")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tracing::trace!("git {}", args.join(" "));
        let mut child = cmd.spawn().map_err(GitError::Spawn)?;
        let stdin = child.stdin.take();
        // Written while the output is read: git may answer before it has read it all.
        let write = async {
            if let (Some(mut stdin), Some(input)) = (stdin, input) {
                // A git that exits early closes the pipe; its status says why.
                let _ = stdin.write_all(input).await;
            }
        };
        let ((), out) = tokio::join!(write, child.wait_with_output());
        let out = out.map_err(GitError::Spawn)?;
        Ok(Ran {
            status: out.status,
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    /// Runs `git ARGS` and returns its stdout; a non-zero exit is an error.
    pub async fn ok(&self, args: &[&str], input: Option<&[u8]>) -> Result<Vec<u8>, GitError> {
        let ran = self.run(args, input).await?;
        if ran.status.success() {
            Ok(ran.stdout)
        } else {
            Err(GitError::Failed {
                args: args.join(" "),
                status: ran.status,
                stderr: ran.stderr,
            })
        }
    }

    /// Like [`Git::ok`], for commands that print one object id.
    pub async fn oid(&self, args: &[&str], input: Option<&[u8]>) -> Result<String, GitError> {
        let out = self.ok(args, input).await?;
        let text = String::from_utf8_lossy(&out).trim().to_owned();
        if is_oid(&text) {
            Ok(text)
        } else {
            Err(GitError::Output {
                args: args.join(" "),
                detail: format!("{text:?} is not an object id"),
            })
        }
    }
}

/// A full object id (SHA-1 or SHA-256), lower-case hex: safe as a git argument.
pub fn is_oid(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
