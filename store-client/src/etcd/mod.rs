//! `etcd://HOST:PORT[,HOST:PORT...]/PREFIX`: configs in an etcd cluster, for fleets.
//!
//! A put is one transaction: it compares the config key's mod_revision with the version
//! the writer saw (or its absence), and writes the config, its history entry and the head
//! pointer together. The version is the config key's mod_revision. A config written with
//! `etcdctl` is recorded in the history when this store first sees it. Watching is an etcd
//! watch, resumed from the last revision seen after a member dies.

mod conn;
mod gateway;
mod keys;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use self::conn::{backoff, Conn};
use self::gateway::{Compare, KeyValue, Op, Txn, TxnResponse};
use self::keys::{entry_name, unix_time, EtcdUrl, Head, LogEntry, RouterKeys};
use super::{
    ConfigStore, Expect, FileName, HistoryEntry, RouterId, StoreError, Stored, Version, Watch,
};

/// The message of a history entry for a config someone wrote straight into etcd.
const FOUND_MESSAGE: &str = "written into etcd directly (not by router-agent)";

#[derive(Debug, Clone)]
pub struct EtcdStore {
    conn: Arc<Conn>,
}

impl EtcdStore {
    /// From an `etcd://` URL; connects on first use. `timeout` bounds each request.
    pub fn from_url(url: &str, timeout: Duration) -> Result<EtcdStore, StoreError> {
        Ok(EtcdStore {
            conn: Arc::new(Conn::new(EtcdUrl::parse(url)?, timeout)?),
        })
    }

    fn keys(&self, id: &RouterId) -> RouterKeys {
        self.conn.url.router(id)
    }

    fn protocol(&self, detail: String) -> StoreError {
        StoreError::Protocol {
            store: self.describe(),
            detail,
        }
    }

    fn text(&self, kv: &KeyValue) -> Result<String, StoreError> {
        String::from_utf8(kv.value().to_vec()).map_err(|_| {
            self.protocol(format!(
                "{} is not UTF-8 text; a config is TOML",
                String::from_utf8_lossy(kv.key())
            ))
        })
    }

    /// Runs a transaction that creates history entry `n` when it succeeds. A transport
    /// failure leaves it unknown whether it committed: the entry says, and an uncommitted
    /// transaction is sent again (its compare on the entry keeps it from applying twice).
    async fn commit(
        &self,
        keys: &RouterKeys,
        n: &str,
        txn: Txn,
    ) -> Result<Result<Version, TxnResponse>, StoreError> {
        let mut attempt = 1;
        loop {
            let sent = txn.clone();
            match self
                .conn
                .call("writing", |e| async move { e.txn(&sent).await })
                .await
            {
                Ok(response) if response.succeeded() => {
                    let revision = response.revision();
                    return Ok(Ok(Version(revision.to_string())));
                }
                Ok(response) => return Ok(Err(response)),
                Err(e) if e.is_transient() && attempt < self.conn.attempts() => {
                    tracing::info!(error = %e, attempt, "etcd write failed; checking whether it committed");
                    tokio::time::sleep(backoff(attempt)).await;
                    let log = keys.log(n);
                    let found = self.conn.get("checking a write", &log).await?;
                    if let Some(kv) = found.kvs().first() {
                        return Ok(Ok(Version(kv.create_revision().to_string())));
                    }
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Puts the history entry `n` for `text` (and its log line) into `ops`.
    fn entry_ops(keys: &RouterKeys, n: &str, text: &str, log: &LogEntry) -> Vec<Op> {
        let log = serde_json::to_string(log).unwrap_or_default();
        vec![Op::put(keys.history(n), text), Op::put(keys.log(n), log)]
    }

    /// Records a config that is current but in no history entry (written with `etcdctl`).
    /// Losing the race to another writer is fine: the next reader records theirs.
    async fn record_found(&self, keys: &RouterKeys, text: &str, revision: i64) {
        let n = entry_name();
        let log = LogEntry {
            unix_time: unix_time(),
            message: FOUND_MESSAGE.into(),
            revision: Some(revision),
        };
        let head = Head {
            entry: n.clone(),
            revision: Some(revision),
        };
        let mut ops = Self::entry_ops(keys, &n, text, &log);
        ops.push(Op::put(
            keys.head(),
            serde_json::to_string(&head).unwrap_or_default(),
        ));
        let txn = Txn::new()
            .when([
                Compare::ModRevision(keys.config(), revision),
                Compare::CreateRevision(keys.history(&n), 0),
            ])
            .and_then(ops);
        match self.commit(keys, &n, txn).await {
            Ok(Ok(_)) => tracing::info!(
                key = keys.config(),
                revision,
                "recorded a config written into etcd directly in the history"
            ),
            Ok(Err(_)) => tracing::debug!(
                key = keys.config(),
                revision,
                "config changed before it was recorded"
            ),
            Err(e) => {
                tracing::warn!(key = keys.config(), revision, error = %e, "could not record a config written into etcd directly; will try again")
            }
        }
    }

    /// Whether `head` says the config at `revision` has its history entry.
    fn recorded(head: Option<&KeyValue>, revision: i64) -> bool {
        let Some(kv) = head else { return false };
        match serde_json::from_slice::<Head>(kv.value()) {
            Ok(Head {
                revision: Some(r), ..
            }) => r == revision,
            Ok(Head { revision: None, .. }) => kv.mod_revision() == revision,
            Err(_) => false,
        }
    }

    /// Records the config if needed, after a watch event.
    async fn ensure_recorded(&self, keys: &RouterKeys, text: &str, revision: i64) {
        let head = keys.head();
        let got = self.conn.get("reading the head", &head).await;
        match got {
            Ok(got) if Self::recorded(got.kvs().first(), revision) => {}
            Ok(_) => self.record_found(keys, text, revision).await,
            Err(e) => tracing::warn!(error = %e, "could not check the history of a watched change"),
        }
    }

    async fn log_entries(
        &self,
        keys: &RouterKeys,
    ) -> Result<Vec<(String, HistoryEntry)>, StoreError> {
        let prefix = keys.log_prefix();
        let got = self
            .conn
            .read("listing the history", |e| {
                let prefix = prefix.clone();
                async move { e.range(&prefix, true, false).await }
            })
            .await?;
        let mut entries: Vec<(String, HistoryEntry)> = got
            .kvs()
            .iter()
            .map(|kv| {
                let key = String::from_utf8_lossy(kv.key());
                let n = key.strip_prefix(&prefix).unwrap_or(&key).to_owned();
                let (unix_time, message, revision) = match serde_json::from_slice::<LogEntry>(kv.value()) {
                    Ok(log) => (Some(log.unix_time), log.message, log.revision),
                    Err(e) => {
                        tracing::warn!(%key, error = %e, "unreadable history log entry; listing it without a message");
                        (None, String::new(), None)
                    }
                };
                let revision = revision.unwrap_or(kv.create_revision());
                let entry = HistoryEntry {
                    version: Version(revision.to_string()),
                    unix_time,
                    message,
                };
                (n, entry)
            })
            .collect();
        entries.sort_by_key(|(_, e)| {
            std::cmp::Reverse(e.version.0.parse::<i64>().unwrap_or_default())
        });
        Ok(entries)
    }
}

#[async_trait]
impl ConfigStore for EtcdStore {
    fn describe(&self) -> String {
        self.conn.url.describe()
    }

    async fn get(&self, id: &RouterId) -> Result<Option<Stored>, StoreError> {
        let keys = self.keys(id);
        // One transaction, so config and head come from the same revision.
        let txn = Txn::new().and_then([Op::Get(keys.config()), Op::Get(keys.head())]);
        let response = self
            .conn
            .read("reading the config", |e| {
                let txn = txn.clone();
                async move { e.txn(&txn).await }
            })
            .await?;
        let got = response.gets();
        let (Some(Some(config)), head) = (got.first(), got.get(1)) else {
            return Ok(None);
        };
        let text = self.text(config)?;
        let revision = config.mod_revision();
        if !Self::recorded(head.and_then(Option::as_ref), revision) {
            self.record_found(&keys, &text, revision).await;
        }
        Ok(Some(Stored {
            text,
            version: Version(revision.to_string()),
        }))
    }

    async fn put(
        &self,
        id: &RouterId,
        text: &str,
        expect: &Expect,
        message: &str,
    ) -> Result<Version, StoreError> {
        let keys = self.keys(id);
        let expected = match expect {
            Expect::Absent => Compare::CreateRevision(keys.config(), 0),
            Expect::Version(v) => match v.0.parse::<i64>() {
                Ok(revision) => Compare::ModRevision(keys.config(), revision),
                // Not a version of this store: whatever is current is not it.
                Err(_) => {
                    return Err(StoreError::Conflict {
                        store: self.describe(),
                        id: id.to_string(),
                        current: self.get(id).await?.map(|s| s.version),
                    })
                }
            },
        };
        let n = entry_name();
        let log = LogEntry {
            unix_time: unix_time(),
            message: message.to_owned(),
            revision: None,
        };
        let head = Head {
            entry: n.clone(),
            revision: None,
        };
        let mut ops = vec![Op::put(keys.config(), text)];
        ops.extend(Self::entry_ops(&keys, &n, text, &log));
        ops.push(Op::put(
            keys.head(),
            serde_json::to_string(&head).unwrap_or_default(),
        ));
        let txn = Txn::new()
            .when([expected, Compare::CreateRevision(keys.history(&n), 0)])
            .and_then(ops)
            .or_else([Op::Get(keys.config())]);
        match self.commit(&keys, &n, txn).await? {
            Ok(version) => {
                tracing::debug!(%id, %version, "config written");
                Ok(version)
            }
            Err(failed) => Err(StoreError::Conflict {
                store: self.describe(),
                id: id.to_string(),
                current: failed
                    .gets()
                    .into_iter()
                    .flatten()
                    .next()
                    .map(|kv| Version(kv.mod_revision().to_string())),
            }),
        }
    }

    async fn archive(&self, id: &RouterId, text: &str, message: &str) -> Result<(), StoreError> {
        let keys = self.keys(id);
        let n = entry_name();
        let log = LogEntry {
            unix_time: unix_time(),
            message: message.to_owned(),
            revision: None,
        };
        let txn = Txn::new()
            .when([Compare::CreateRevision(keys.history(&n), 0)])
            .and_then(Self::entry_ops(&keys, &n, text, &log));
        match self.commit(&keys, &n, txn).await? {
            Ok(_) => Ok(()),
            Err(_) => Err(self.protocol(format!("history entry {n} already exists"))),
        }
    }

    async fn history(&self, id: &RouterId) -> Result<Vec<HistoryEntry>, StoreError> {
        let entries = self.log_entries(&self.keys(id)).await?;
        Ok(entries.into_iter().map(|(_, e)| e).collect())
    }

    async fn get_version(&self, id: &RouterId, version: &Version) -> Result<String, StoreError> {
        let keys = self.keys(id);
        let entries = self.log_entries(&keys).await?;
        let no_such = || StoreError::NoSuchVersion {
            store: self.describe(),
            id: id.to_string(),
            version: version.clone(),
        };
        let (n, _) = entries
            .iter()
            .find(|(_, e)| &e.version == version)
            .ok_or_else(no_such)?;
        let key = keys.history(n);
        let got = self.conn.get("reading a version", &key).await?;
        let kv = got.kvs().first().ok_or_else(no_such)?;
        self.text(kv)
    }

    async fn get_file(
        &self,
        id: &RouterId,
        name: &FileName,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.keys(id).file(name);
        let got = self.conn.get("reading a file", &key).await?;
        Ok(got.kvs().first().map(|kv| kv.value().to_vec()))
    }

    async fn put_file(
        &self,
        id: &RouterId,
        name: &FileName,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let key = self.keys(id).file(name);
        // Last writer wins, so repeating it is harmless.
        self.conn
            .read("writing a file", |e| {
                let key = key.clone();
                async move { e.put(&key, bytes).await }
            })
            .await
    }

    /// Keys only, under the prefix: configs and status records name the routers.
    async fn list_routers(&self) -> Result<Vec<RouterId>, StoreError> {
        let prefix = self.conn.url.routers_prefix();
        let got = self
            .conn
            .read("listing the routers", |e| {
                let prefix = prefix.clone();
                async move { e.range(&prefix, true, true).await }
            })
            .await?;
        let mut ids: Vec<RouterId> = got
            .kvs()
            .iter()
            .filter_map(|kv| self.conn.url.router_of(&String::from_utf8_lossy(kv.key())))
            .collect();
        ids.dedup();
        Ok(ids)
    }

    async fn put_status(&self, id: &RouterId, record: &[u8]) -> Result<(), StoreError> {
        let key = self.keys(id).status();
        // Replaced whole, so repeating it is harmless.
        self.conn
            .read("writing the status record", |e| {
                let key = key.clone();
                async move { e.put(&key, record).await }
            })
            .await
    }

    async fn get_status(&self, id: &RouterId) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.keys(id).status();
        let got = self.conn.get("reading the status record", &key).await?;
        Ok(got.kvs().first().map(|kv| kv.value().to_vec()))
    }

    async fn watch(
        &self,
        id: &RouterId,
        since: Option<Version>,
        _poll: Duration,
    ) -> Result<Watch, StoreError> {
        watch::start(self.clone(), id.clone(), since).await
    }
}
