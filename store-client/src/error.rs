//! What can go wrong talking to a store, worded for the operator who has to fix it.

use super::Version;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL {url:?} is not usable: {reason}")]
    BadUrl { url: String, reason: String },
    /// `detail` says why, the cause included (there is no `source()`).
    #[error("{store}: unreachable: {detail}")]
    Unreachable { store: String, detail: String },
    #[error("{store}: refused the credentials for router {id:?} (check the bearer token)")]
    Unauthorized { store: String, id: String },
    #[error(
        "{store}: config of {id:?} changed meanwhile (now version {current:?}); nothing written"
    )]
    Conflict {
        store: String,
        id: String,
        current: Option<Version>,
    },
    #[error("{store}: {id:?} has no version {version}")]
    NoSuchVersion {
        store: String,
        id: String,
        version: Version,
    },
    #[error("{store} is read-only; writes go to a writable store (file, http, etcd)")]
    ReadOnly { store: String },
    #[error("{store} refused the request: {detail}")]
    Refused { store: String, detail: String },
    #[error("{store}: unexpected answer: {detail}")]
    Protocol { store: String, detail: String },
    #[error(
        "{store}: no space left on the store's disk (ENOSPC) while {what}; free space there \
         (the router keeps the snapshot in memory and retries)"
    )]
    NoSpace { store: String, what: String },
    #[error(
        "{store}: the store's disk is read-only (EROFS) while {what}; remount it read-write \
         or unlock the stick's write protection"
    )]
    ReadOnlyDisk { store: String, what: String },
    #[error("{store}: {what}")]
    Io {
        store: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Worth retrying later (the store may come back); other errors need someone to act.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unreachable { .. } | StoreError::NoSpace { .. }
        )
    }
}
