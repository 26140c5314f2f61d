//! `file://DIR`: a local directory (a USB stick, a mounted share), one directory per router.
//!
//! Writes are atomic (temp file, fsync, rename, directory fsync) and serialised per router by
//! `flock` on `DIR/<id>/.lock`, so several processes can share a directory. The version of a
//! config is its history number. Watching polls.

mod fleet;
mod layout;
mod router;
mod safe;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use self::layout::Layout;
use self::router::PutOutcome;
use super::{
    ConfigStore, Expect, FileName, HistoryEntry, RouterId, StoreError, Stored, Version, Watch,
};

#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    lock_wait: Duration,
}

impl FileStore {
    /// A store in `root`, which must exist when the store is used (it is not created: a
    /// missing directory usually means an unmounted stick).
    pub fn new(root: &Path) -> Result<FileStore, StoreError> {
        let root = std::path::absolute(root).map_err(|source| StoreError::Io {
            store: format!("file://{}", root.display()),
            what: "cannot make the store path absolute".into(),
            source,
        })?;
        Ok(FileStore {
            inner: Arc::new(Inner {
                root,
                lock_wait: safe::LOCK_WAIT,
            }),
        })
    }

    /// How long to wait for another process's lock (10 s unless set).
    pub fn with_lock_wait(self, wait: Duration) -> FileStore {
        FileStore {
            inner: Arc::new(Inner {
                root: self.inner.root.clone(),
                lock_wait: wait,
            }),
        }
    }

    /// From a `file://DIR` URL.
    pub fn from_url(url: &str) -> Result<FileStore, StoreError> {
        match url.strip_prefix("file://") {
            Some(dir) if !dir.is_empty() => FileStore::new(Path::new(dir)),
            _ => Err(StoreError::BadUrl {
                url: url.to_owned(),
                reason: "expected file://DIR, e.g. file:///mnt/usb/routers".into(),
            }),
        }
    }

    /// Runs blocking file work for one router on tokio's blocking pool.
    async fn run<T, F>(&self, id: &RouterId, what: String, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Layout) -> io::Result<T> + Send + 'static,
    {
        let id = id.clone();
        self.blocking(move |inner| {
            let layout = Layout::new(&inner.root, &id, inner.lock_wait);
            work(&layout).map_err(|source| inner.error(what, source))
        })
        .await
    }

    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| StoreError::Io {
                store: self.describe(),
                what: "file store worker failed".into(),
                source: io::Error::other(e),
            })?
    }
}

impl Inner {
    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn error(&self, what: String, source: io::Error) -> StoreError {
        if !self.root.is_dir() {
            return StoreError::Unreachable {
                store: self.describe(),
                detail: format!(
                    "{} is not a directory (is the stick mounted?)",
                    self.root.display()
                ),
            };
        }
        match source.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => StoreError::NoSpace {
                store: self.describe(),
                what,
            },
            io::ErrorKind::ReadOnlyFilesystem => StoreError::ReadOnlyDisk {
                store: self.describe(),
                what,
            },
            _ => StoreError::Io {
                store: self.describe(),
                what,
                source,
            },
        }
    }

    fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError> {
        let layout = Layout::new(&self.root, id, self.lock_wait);
        let current = (|| match layout.lock_for_read()? {
            Some(locked) => locked.current(),
            None => Ok(None),
        })()
        .map_err(|e| self.error(format!("reading {}", layout.config().display()), e))?;
        current
            .map(|(bytes, version)| {
                Ok(Stored {
                    text: self.utf8(&layout.config(), bytes)?,
                    version,
                })
            })
            .transpose()
    }

    fn utf8(&self, path: &Path, bytes: Vec<u8>) -> Result<String, StoreError> {
        String::from_utf8(bytes).map_err(|e| StoreError::Protocol {
            store: self.describe(),
            detail: format!(
                "{} is not UTF-8 text (byte {}); a config is TOML",
                path.display(),
                e.utf8_error().valid_up_to()
            ),
        })
    }
}

#[async_trait]
impl ConfigStore for FileStore {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError> {
        let id = id.clone();
        self.blocking(move |inner| inner.get(&id)).await
    }

    async fn put(
        &self,
        id: &RouterId,
        text: &str,
        expect: &Expect,
        message: &str,
    ) -> Result<Version, StoreError> {
        let (text, expect, message) = (text.to_owned(), expect.clone(), message.to_owned());
        let what = format!("writing the config of {id}");
        let outcome = self
            .run(id, what, move |layout| {
                layout
                    .lock_for_write()?
                    .put(text.as_bytes(), &expect, &message)
            })
            .await?;
        match outcome {
            PutOutcome::Written(version) => {
                tracing::debug!(%id, %version, "config written");
                Ok(version)
            }
            PutOutcome::Conflict(current) => Err(StoreError::Conflict {
                store: self.describe(),
                id: id.to_string(),
                current,
            }),
        }
    }

    async fn archive(&self, id: &RouterId, text: &str, message: &str) -> Result<(), StoreError> {
        let (text, message) = (text.to_owned(), message.to_owned());
        let what = format!("archiving a config of {id}");
        self.run(id, what, move |layout| {
            layout.lock_for_write()?.archive(text.as_bytes(), &message)
        })
        .await
    }

    async fn history(&self, id: &RouterId) -> Result<Vec<HistoryEntry>, StoreError> {
        let what = format!("listing the history of {id}");
        self.run(id, what, |layout| layout.history_entries()).await
    }

    async fn get_version(&self, id: &RouterId, version: &Version) -> Result<String, StoreError> {
        let what = format!("reading version {version} of {id}");
        let v = version.clone();
        let bytes = self
            .run(id, what, move |layout| layout.entry_text(&v))
            .await?;
        let Some(bytes) = bytes else {
            return Err(StoreError::NoSuchVersion {
                store: self.describe(),
                id: id.to_string(),
                version: version.clone(),
            });
        };
        let path = Layout::new(&self.inner.root, id, self.inner.lock_wait).history();
        self.inner.utf8(&path, bytes)
    }

    async fn get_file(
        &self,
        id: &RouterId,
        name: &FileName,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let what = format!("reading file {name} of {id}");
        let name = name.clone();
        self.run(id, what, move |layout| layout.read(&layout.file(&name)))
            .await
    }

    async fn put_file(
        &self,
        id: &RouterId,
        name: &FileName,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let what = format!("writing file {name} of {id}");
        let (name, bytes) = (name.clone(), bytes.to_vec());
        self.run(id, what, move |layout| {
            layout
                .lock_for_write()?
                .put_file(&layout.file(&name), &bytes)
        })
        .await
    }

    async fn list_routers(&self) -> Result<Vec<RouterId>, StoreError> {
        self.blocking(|inner| {
            fleet::list(&inner.root).map_err(|e| inner.error("listing the routers".into(), e))
        })
        .await
    }

    async fn put_status(&self, id: &RouterId, record: &[u8]) -> Result<(), StoreError> {
        let what = format!("writing the status record of {id}");
        let record = record.to_vec();
        self.run(id, what, move |layout| fleet::put_status(layout, &record))
            .await
    }

    async fn get_status(&self, id: &RouterId) -> Result<Option<Vec<u8>>, StoreError> {
        let what = format!("reading the status record of {id}");
        self.run(id, what, fleet::get_status).await
    }

    async fn watch(
        &self,
        id: &RouterId,
        since: Option<Version>,
        poll: Duration,
    ) -> Result<Watch, StoreError> {
        super::polling::watch_by_reading(self, id, since, poll).await
    }
}
