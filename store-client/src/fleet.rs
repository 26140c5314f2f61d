//! The fleet at a glance, over any [`ConfigStore`]: one row per router with its current
//! version, its last write and its last status report. What goes wrong with one router
//! (a garbled status record, a config that does not validate, a read that fails) is that
//! router's row, never the listing's failure. `router-agent store ls` prints these rows;
//! the store server's dashboard is meant to render the same ones.

use async_trait::async_trait;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::note::{Note, WriteKind};
use super::status::StatusReport;
use super::{ConfigStore, RouterId, StoreError};

/// How a router's config text is checked (the store is there for the list files it
/// names): `Err` says why it does not validate.
#[async_trait]
pub trait Validate: Sync {
    async fn check(&self, store: &dyn ConfigStore, id: &RouterId, text: &str)
        -> Result<(), String>;
}

/// Checks nothing (a listing without the config model).
#[derive(Debug, Clone, Copy)]
pub struct NoCheck;

#[async_trait]
impl Validate for NoCheck {
    async fn check(&self, _: &dyn ConfigStore, _: &RouterId, _: &str) -> Result<(), String> {
        Ok(())
    }
}

pub type Validator<'a> = &'a dyn Validate;

#[derive(Debug, Clone, Serialize)]
pub struct FleetRow {
    pub id: String,
    /// `ok`, `degraded`, `stale`, `broken`, `no-report` (no status record yet).
    pub health: Health,
    pub current_version: Option<String>,
    pub last_write: Option<LastWrite>,
    pub status: Option<StatusReport>,
    /// Why the row is broken (empty otherwise).
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    Ok,
    Degraded,
    Stale,
    Broken,
    NoReport,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Degraded => "DEGRADED",
            Health::Stale => "STALE",
            Health::Broken => "BROKEN",
            Health::NoReport => "no report",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LastWrite {
    pub version: String,
    pub unix_time: Option<u64>,
    pub kind: Option<WriteKind>,
    pub summary: String,
    pub written_by: Option<String>,
}

/// Routers asked about at once: each row is a few round trips (and, on the store server,
/// a few git runs); one at a time, a thousand routers took a minute.
const AT_ONCE: usize = 16;

/// Every router of `store`, sorted by id. Fails only when the routers cannot be listed.
pub async fn rows(
    store: &dyn ConfigStore,
    validate: Validator<'_>,
    now: u64,
) -> Result<Vec<FleetRow>, StoreError> {
    let mut ids = store.list_routers().await?;
    ids.sort();
    ids.dedup();
    Ok(rows_of(store, &ids, validate, now).await)
}

/// The rows of `ids`, in that order (the dashboard asks only for the page it shows).
pub async fn rows_of(
    store: &dyn ConfigStore,
    ids: &[RouterId],
    validate: Validator<'_>,
    now: u64,
) -> Vec<FleetRow> {
    // Owned ids: a closure over borrowed ones is not `Send` for every lifetime, which a
    // server's handler needs (rust-lang/rust#102211).
    stream::iter(ids.iter().cloned())
        .map(|id| async move { row(store, &id, validate, now).await })
        .buffered(AT_ONCE)
        .collect()
        .await
}

/// One router's row.
pub async fn row(
    store: &dyn ConfigStore,
    id: &RouterId,
    validate: Validator<'_>,
    now: u64,
) -> FleetRow {
    let mut problems = Vec::new();
    let mut current_version = None;
    match store.get(id).await {
        Ok(Some(stored)) => {
            current_version = Some(stored.version.0.clone());
            if let Err(why) = validate.check(store, id, &stored.text).await {
                problems.push(format!(
                    "current config {} does not validate: {why}",
                    stored.version
                ));
            }
        }
        Ok(None) => {}
        Err(e) => problems.push(format!("reading the config: {e}")),
    }
    // How the current config came to be (archived versions written since are not it);
    // without a current config, the newest entry.
    let last_write = match store.history(id).await {
        Ok(history) => {
            let at = history
                .iter()
                .position(|h| Some(&h.version.0) == current_version.as_ref());
            history.into_iter().nth(at.unwrap_or(0)).map(|h| {
                let note = Note::parse(&h.message);
                LastWrite {
                    version: h.version.0,
                    unix_time: h.unix_time,
                    kind: note.kind,
                    written_by: note.trailer(super::note::AUTHOR_TRAILER).map(str::to_owned),
                    summary: note.summary,
                }
            })
        }
        Err(e) => {
            problems.push(format!("reading the history: {e}"));
            None
        }
    };
    let status = match store.get_status(id).await {
        Ok(Some(bytes)) => match StatusReport::parse(&bytes) {
            Ok(report) => Some(report),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            problems.push(format!("reading the status record: {e}"));
            None
        }
    };
    let health = match &status {
        _ if !problems.is_empty() => Health::Broken,
        None => Health::NoReport,
        Some(s) if s.stale(now) => Health::Stale,
        Some(s) if s.degraded() => Health::Degraded,
        Some(_) => Health::Ok,
    };
    FleetRow {
        id: id.to_string(),
        health,
        current_version,
        last_write,
        status,
        problems,
    }
}
