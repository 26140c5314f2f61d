//! An in-memory [`ConfigStore`] for tests: versions, history, files, watch, and a switch
//! that makes it unreachable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc};

use super::{
    ConfigStore, Expect, FileName, HistoryEntry, RouterId, StoreError, StoreEvent, Stored, Version,
    Watch,
};

#[derive(Debug, Default)]
struct Router {
    /// Oldest first: (version, text, message).
    history: Vec<(Version, String, String)>,
    current: Option<Stored>,
    files: HashMap<FileName, Vec<u8>>,
    status: Option<Vec<u8>>,
}

#[derive(Debug)]
pub struct MemoryStore {
    routers: Mutex<HashMap<RouterId, Router>>,
    next: AtomicU64,
    down: AtomicBool,
    events: broadcast::Sender<(RouterId, StoreEvent)>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            routers: Mutex::default(),
            next: AtomicU64::new(1),
            down: AtomicBool::new(false),
            events: broadcast::channel(64).0,
        }
    }
}

impl MemoryStore {
    /// While down, every call fails as an unreachable store would.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn up(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unreachable {
                store: self.describe(),
                detail: "down (test switch)".into(),
            });
        }
        Ok(())
    }

    fn new_version(&self) -> Version {
        Version(format!("m{}", self.next.fetch_add(1, Ordering::SeqCst)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RouterId, Router>> {
        // A test that panicked while holding the lock already failed; carry on.
        self.routers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ConfigStore for MemoryStore {
    fn describe(&self) -> String {
        "memory://".into()
    }

    async fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError> {
        self.up()?;
        Ok(self.lock().get(id).and_then(|r| r.current.clone()))
    }

    async fn put(
        &self,
        id: &RouterId,
        text: &str,
        expect: &Expect,
        message: &str,
    ) -> Result<Version, StoreError> {
        self.up()?;
        let mut routers = self.lock();
        let router = routers.entry(id.clone()).or_default();
        let current = router.current.as_ref().map(|s| &s.version);
        let holds = match expect {
            Expect::Absent => current.is_none(),
            Expect::Version(v) => current == Some(v),
        };
        if !holds {
            return Err(StoreError::Conflict {
                store: self.describe(),
                id: id.to_string(),
                current: current.cloned(),
            });
        }
        let version = self.new_version();
        let stored = Stored {
            text: text.to_owned(),
            version: version.clone(),
        };
        router
            .history
            .push((version.clone(), text.to_owned(), message.to_owned()));
        router.current = Some(stored.clone());
        // Nobody watching is fine.
        let _ = self.events.send((id.clone(), StoreEvent::Changed(stored)));
        Ok(version)
    }

    async fn archive(&self, id: &RouterId, text: &str, message: &str) -> Result<(), StoreError> {
        self.up()?;
        let version = self.new_version();
        self.lock().entry(id.clone()).or_default().history.push((
            version,
            text.to_owned(),
            message.to_owned(),
        ));
        Ok(())
    }

    async fn history(&self, id: &RouterId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.up()?;
        let routers = self.lock();
        let Some(router) = routers.get(id) else {
            return Ok(Vec::new());
        };
        Ok(router
            .history
            .iter()
            .rev()
            .map(|(version, _, message)| HistoryEntry {
                version: version.clone(),
                unix_time: None,
                message: message.clone(),
            })
            .collect())
    }

    async fn get_version(&self, id: &RouterId, version: &Version) -> Result<String, StoreError> {
        self.up()?;
        self.lock()
            .get(id)
            .and_then(|r| r.history.iter().find(|(v, _, _)| v == version))
            .map(|(_, text, _)| text.clone())
            .ok_or_else(|| StoreError::NoSuchVersion {
                store: self.describe(),
                id: id.to_string(),
                version: version.clone(),
            })
    }

    async fn get_file(
        &self,
        id: &RouterId,
        name: &FileName,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.up()?;
        Ok(self.lock().get(id).and_then(|r| r.files.get(name).cloned()))
    }

    async fn put_file(
        &self,
        id: &RouterId,
        name: &FileName,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.up()?;
        self.lock()
            .entry(id.clone())
            .or_default()
            .files
            .insert(name.clone(), bytes.to_vec());
        Ok(())
    }

    async fn list_routers(&self) -> Result<Vec<RouterId>, StoreError> {
        self.up()?;
        Ok(self
            .lock()
            .iter()
            .filter(|(_, r)| r.current.is_some() || r.status.is_some())
            .map(|(id, _)| id.clone())
            .collect())
    }

    async fn put_status(&self, id: &RouterId, record: &[u8]) -> Result<(), StoreError> {
        self.up()?;
        self.lock().entry(id.clone()).or_default().status = Some(record.to_vec());
        Ok(())
    }

    async fn get_status(&self, id: &RouterId) -> Result<Option<Vec<u8>>, StoreError> {
        self.up()?;
        Ok(self.lock().get(id).and_then(|r| r.status.clone()))
    }

    async fn watch(
        &self,
        id: &RouterId,
        since: Option<Version>,
        _poll: Duration,
    ) -> Result<Watch, StoreError> {
        self.up()?;
        let mut events = self.events.subscribe();
        let (tx, rx) = mpsc::channel(16);
        // A change between `since` and now is reported first.
        let current = self.lock().get(id).and_then(|r| r.current.clone());
        if let (Some(since), Some(current)) = (since, current) {
            if current.version != since {
                let _ = tx.send(Ok(StoreEvent::Changed(current))).await;
            }
        }
        let id = id.clone();
        tokio::spawn(async move {
            while let Ok((changed, event)) = events.recv().await {
                if changed == id && tx.send(Ok(event)).await.is_err() {
                    break;
                }
            }
        });
        Ok(rx)
    }
}
