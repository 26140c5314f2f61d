//! Entering a named network namespace (`ip netns` names, bound under /run/netns).

use std::fs::File;
use std::os::fd::AsRawFd;

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("network namespace {name:?} not found at /run/netns/{name}: create it with `ip netns add {name}`")]
    Open {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot enter network namespace {name:?} (root or CAP_SYS_ADMIN is needed)")]
    Enter {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0:?} is not a namespace name")]
    BadName(String),
}

/// Moves the calling thread into the namespace. Call it before starting other threads:
/// they would stay behind.
pub fn enter(name: &str) -> Result<(), NetnsError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(NetnsError::BadName(name.to_owned()));
    }
    let path = format!("/run/netns/{name}");
    let f = File::open(&path).map_err(|source| NetnsError::Open {
        name: name.to_owned(),
        source,
    })?;
    // SAFETY: setns only reads the descriptor, which `f` keeps open for the call.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(NetnsError::Enter {
            name: name.to_owned(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}
