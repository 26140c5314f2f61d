//! Entering a named network namespace (`ip netns` names, bound under /run/netns).

use std::fs::File;

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
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&f),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(|e| NetnsError::Enter {
        name: name.to_owned(),
        source: e.into(),
    })
}
