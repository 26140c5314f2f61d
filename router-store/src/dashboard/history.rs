//! The router page's history (newest first, each version with its kind of write and what
//! it changed, like `store log`) and the diff of two of its versions (like `store diff`):
//! router-model's summary and unified diff, of the texts with their secrets hidden.

use router_model::human::{short, utc};
use router_model::redact_secrets;
use router_model::summary::{summarize, unified};
use router_store_client::note::AUTHOR_TRAILER;
use router_store_client::{ConfigStore, HistoryEntry, RouterId, StoreError, Version};
use serde::Serialize;

/// Versions shown on the page (each costs a read of its text and of the one before it).
pub const SHOWN: usize = 50;

#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub version: String,
    pub short: String,
    pub time: String,
    pub kind: String,
    pub change: String,
    pub message: String,
    pub current: bool,
}

async fn text_of(store: &dyn ConfigStore, id: &RouterId, v: &Version) -> Option<String> {
    match store.get_version(id, v).await {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!("router {id}, version {v}: {e}");
            None
        }
    }
}

/// The newest [`SHOWN`] versions of `history`.
pub async fn lines(
    store: &dyn ConfigStore,
    id: &RouterId,
    history: &[HistoryEntry],
    current: Option<&Version>,
) -> Vec<LogLine> {
    let shown = history.len().min(SHOWN);
    // One more than shown: the oldest shown is compared with the one before it.
    let mut texts = Vec::with_capacity(shown + 1);
    for entry in history.iter().take(shown + 1) {
        texts.push(text_of(store, id, &entry.version).await);
    }
    let mut out = Vec::with_capacity(shown);
    for (i, entry) in history.iter().take(shown).enumerate() {
        let first = i + 1 == history.len();
        let older = texts.get(i + 1).cloned().flatten();
        let change = match (&texts[i], older, first) {
            (Some(new), Some(old), _) => summarize(Some(&old), new),
            (Some(new), None, true) => summarize(None, new),
            _ => "(a version could not be read)".into(),
        };
        let note = entry.note();
        let message = match note.trailer(AUTHOR_TRAILER) {
            Some(by) => format!("{} (by {by})", note.summary),
            None => note.summary.clone(),
        };
        out.push(LogLine {
            version: entry.version.0.clone(),
            short: short(&entry.version.0).to_owned(),
            time: entry.unix_time.map_or_else(|| "-".into(), utc),
            kind: note.kind.map_or("-", |k| k.describe()).to_owned(),
            change,
            message,
            current: current == Some(&entry.version),
        });
    }
    out
}

/// One line of a unified diff, with how to colour it.
#[derive(Debug, Clone, Serialize)]
pub struct DiffLine {
    pub class: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    pub change: String,
    pub lines: Vec<DiffLine>,
}

/// `a` against `b`, both versions of `id`'s history.
pub async fn diff(
    store: &dyn ConfigStore,
    id: &RouterId,
    a: &Version,
    b: &Version,
) -> Result<Diff, StoreError> {
    let old = store.get_version(id, a).await?;
    let new = store.get_version(id, b).await?;
    let change = summarize(Some(&old), &new);
    let (from, to) = (format!("{id}@{a}"), format!("{id}@{b}"));
    let text = unified(&redact_secrets(&old), &redact_secrets(&new), &from, &to);
    let lines = text
        .lines()
        .map(|line| DiffLine {
            class: match line.as_bytes().first() {
                _ if line.starts_with("+++") || line.starts_with("---") => "head",
                Some(b'+') => "add",
                Some(b'-') => "del",
                Some(b'@') => "hunk",
                _ => "ctx",
            },
            text: line.to_owned(),
        })
        .collect();
    Ok(Diff {
        change,
        from,
        to,
        lines,
    })
}
