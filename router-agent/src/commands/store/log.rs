//! `store log URL ID`: the history, newest first, each version with its kind of write and
//! what it changed against the version before it (like `git log --stat`, in router terms).

use serde::Serialize;

use super::text::{short, table, utc};
use super::{io_err, json, CommandError, Conn, Io};
use crate::model::summary::summarize;
use crate::store::{ConfigStore, HistoryEntry, RouterId, WriteKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    conn: Conn,
    id: RouterId,
    /// Show at most this many versions (0: all).
    #[arg(short = 'n', long, default_value_t = 20)]
    limit: usize,
}

#[derive(Debug, Serialize)]
pub struct LogLine {
    pub version: String,
    pub unix_time: Option<u64>,
    pub kind: Option<WriteKind>,
    pub summary: String,
    pub written_by: Option<String>,
    /// What changed against the version before it, in router terms.
    pub change: String,
    /// Whether this is the current config.
    pub current: bool,
}

async fn text_of(store: &dyn ConfigStore, id: &RouterId, entry: &HistoryEntry) -> Option<String> {
    match store.get_version(id, &entry.version).await {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!("version {}: {e}", entry.version);
            None
        }
    }
}

pub async fn lines(
    store: &dyn ConfigStore,
    id: &RouterId,
    limit: usize,
) -> Result<Vec<LogLine>, CommandError> {
    let history = store.history(id).await?;
    let current = store.get(id).await?.map(|s| s.version);
    let shown = if limit == 0 {
        history.len()
    } else {
        limit.min(history.len())
    };
    // One more than shown: the oldest shown is compared with the one before it.
    let mut texts = Vec::with_capacity(shown + 1);
    for entry in history.iter().take(shown + 1) {
        texts.push(text_of(store, id, entry).await);
    }
    let mut out = Vec::with_capacity(shown);
    for (i, entry) in history.iter().take(shown).enumerate() {
        let older = texts.get(i + 1).cloned().flatten();
        let first = i + 1 == history.len();
        let change = match (&texts[i], older, first) {
            (Some(new), Some(old), _) => summarize(Some(&old), new),
            (Some(new), None, true) => summarize(None, new),
            _ => "(a version could not be read)".into(),
        };
        let note = entry.note();
        out.push(LogLine {
            version: entry.version.0.clone(),
            unix_time: entry.unix_time,
            kind: note.kind,
            written_by: note
                .trailer(crate::store::note::AUTHOR_TRAILER)
                .map(str::to_owned),
            summary: note.summary,
            change,
            current: current.as_ref() == Some(&entry.version),
        });
    }
    Ok(out)
}

pub async fn run(args: Args, io: &mut Io<'_>) -> Result<(), CommandError> {
    let store = args.conn.open()?;
    let lines = lines(store.as_ref(), &args.id, args.limit).await?;
    if args.conn.json {
        return json(io.out, &lines);
    }
    if lines.is_empty() {
        return writeln!(io.out, "{} has no history in this store", args.id)
            .map_err(io_err("writing the output"));
    }
    let mut rows = vec![["VERSION", "TIME", "KIND", "CHANGE", "MESSAGE"]
        .map(String::from)
        .to_vec()];
    for l in &lines {
        let mark = if l.current { " *" } else { "" };
        rows.push(vec![
            format!("{}{mark}", short(&l.version)),
            l.unix_time.map_or_else(|| "-".into(), utc),
            l.kind.map_or("-", |k| k.describe()).to_owned(),
            l.change.clone(),
            match &l.written_by {
                Some(by) => format!("{} (by {by})", l.summary),
                None => l.summary.clone(),
            },
        ]);
    }
    io.out
        .write_all(table(&rows).as_bytes())
        .map_err(io_err("writing the output"))
}
