//! Where router configs live between boots: a [`ConfigStore`] per URL scheme.
//!
//! Every write is compare-and-swap against the version the writer last saw, so a router and
//! an operator editing the same config never silently overwrite each other; every version
//! ever written stays in the store's history.

pub mod atomic;
pub mod bootargs;
mod chain;
pub mod contract;
mod digest;
pub mod enrol;
mod error;
pub mod etcd;
pub mod file;
pub mod fleet;
pub mod http;
mod memory;
mod names;
pub mod note;
mod open;
pub mod polling;
pub mod status;
pub mod tftp;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use chain::{causes, error_chain};
pub use error::StoreError;
pub use http::HttpStore;
pub use memory::MemoryStore;
pub use names::{FileName, ImageVersion, NameError, RouterId};
pub use note::{Note, WriteKind};
pub use open::{open, StoreOptions};
pub use status::StatusReport;

/// A store's opaque name for one version of a config (an HTTP ETag, an etcd revision, a
/// git commit). Compared for equality only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub String);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A config as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The TOML text, byte for byte as written.
    pub text: String,
    pub version: Version,
}

/// What a write expects the store's current config to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// There is no config for this router yet.
    Absent,
    /// The current config is still this version.
    Version(Version),
}

/// One version in a router's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub version: Version,
    /// Seconds since the Unix epoch, when the store records it.
    pub unix_time: Option<u64>,
    /// Why it was written ("snapshot: 2 routes added", "operator edit", ...), with
    /// trailers ([`note`]) saying how.
    pub message: String,
}

impl HistoryEntry {
    /// The message taken apart: summary, kind of write, trailers.
    pub fn note(&self) -> Note {
        Note::parse(&self.message)
    }
}

/// A change of the current config seen by [`ConfigStore::watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    Changed(Stored),
    Deleted,
}

/// Changes pushed (etcd) or polled (HTTP with ETag, files) from the store. The sender side
/// ends when the watch can no longer go on; an error item says why.
pub type Watch = mpsc::Receiver<Result<StoreEvent, StoreError>>;

/// A config store. Implementations: `file://`, `http(s)://`, `tftp://` (read-only),
/// `etcd://`, and [`MemoryStore`] for tests.
#[async_trait]
pub trait ConfigStore: fmt::Debug + Send + Sync {
    /// The store's URL as it may be logged (no credentials).
    fn describe(&self) -> String;

    /// Whether writes are refused by design (TFTP).
    fn read_only(&self) -> bool {
        false
    }

    /// The current config of `id`, or `None` if the store has none.
    async fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError>;

    /// Writes `text` as the current config if `expect` still holds, and returns its new
    /// version. Otherwise [`StoreError::Conflict`] with the store's current version, and
    /// nothing is written.
    async fn put(
        &self,
        id: &RouterId,
        text: &str,
        expect: &Expect,
        message: &str,
    ) -> Result<Version, StoreError>;

    /// Keeps `text` in the history without making it current (the losing side of a
    /// conflict, the running config before a store-side edit is applied).
    async fn archive(&self, id: &RouterId, text: &str, message: &str) -> Result<(), StoreError>;

    /// Every version of `id`'s config, newest first.
    async fn history(&self, id: &RouterId) -> Result<Vec<HistoryEntry>, StoreError>;

    /// One version from the history.
    async fn get_version(&self, id: &RouterId, version: &Version) -> Result<String, StoreError>;

    /// A file kept beside the config (SSH host keys, `[persist]` files), or `None`.
    async fn get_file(&self, id: &RouterId, name: &FileName)
        -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes a file beside the config (last writer wins; files are not versioned).
    async fn put_file(
        &self,
        id: &RouterId,
        name: &FileName,
        bytes: &[u8],
    ) -> Result<(), StoreError>;

    /// Every router the store holds a config or a status record for (any order).
    async fn list_routers(&self) -> Result<Vec<RouterId>, StoreError>;

    /// Replaces `id`'s status record ([`status`]): kept beside the config, not in its
    /// history. Stores keep the bytes as given; the store server refuses what does not
    /// parse as a [`StatusReport`].
    async fn put_status(&self, id: &RouterId, record: &[u8]) -> Result<(), StoreError>;

    /// `id`'s status record as last written, or `None`.
    async fn get_status(&self, id: &RouterId) -> Result<Option<Vec<u8>>, StoreError>;

    /// Follows changes of `id`'s current config: pushed where the store can (etcd), else
    /// polled every `poll`. The first event reports changes after `since` (`None`: after
    /// the watch starts).
    async fn watch(
        &self,
        id: &RouterId,
        since: Option<Version>,
        poll: Duration,
    ) -> Result<Watch, StoreError>;
}

#[cfg(test)]
mod tests;
