//! `store diff URL ID [A [B]]`: a unified diff of two versions' text and what changed in
//! router terms. Without versions: the one before the current, and the current; with A
//! alone: A and the current.
//! The summary and the diff are router-model's (shared with the store server's dashboard).

use serde::Serialize;

use super::{io_err, json, CommandError, Conn, Io};
use crate::model::summary::summarize;
use crate::store::{ConfigStore, RouterId, Version};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    conn: Conn,
    id: RouterId,
    /// The older side (default: the version before the current one).
    a: Option<String>,
    /// The newer side (default: the current version).
    b: Option<String>,
}

#[derive(Serialize)]
struct Diffed {
    from: String,
    to: String,
    change: String,
    diff: String,
}

/// The version written before `v` in the history (archived versions included).
async fn before(
    store: &dyn ConfigStore,
    id: &RouterId,
    v: &Version,
) -> Result<Version, CommandError> {
    let history = store.history(id).await?;
    let at = history.iter().position(|h| &h.version == v);
    match at.and_then(|i| history.get(i + 1)) {
        Some(h) => Ok(h.version.clone()),
        None => Err(CommandError::Usage(format!(
            "{id}: version {v} is the first one; nothing before it to compare with"
        ))),
    }
}

pub fn unified(a: &str, b: &str, from: &str, to: &str, colour: bool) -> String {
    let text = crate::model::summary::unified(a, b, from, to);
    if !colour {
        return text;
    }
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for line in text.split_inclusive('\n') {
        let code = match line.as_bytes().first() {
            _ if line.starts_with("+++") || line.starts_with("---") => "1",
            Some(b'+') => "32",
            Some(b'-') => "31",
            Some(b'@') => "36",
            _ => "",
        };
        if code.is_empty() {
            out.push_str(line);
        } else {
            let body = line.trim_end_matches('\n');
            out.push_str(&format!("\x1b[{code}m{body}\x1b[0m"));
            if line.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}

pub async fn run(args: Args, io: &mut Io<'_>) -> Result<(), CommandError> {
    let store = args.conn.open()?;
    let store = store.as_ref();
    let current = || async {
        match store.get(&args.id).await? {
            Some(s) => Ok(s.version),
            None => Err(CommandError::Usage(format!(
                "{} has no current config in this store",
                args.id
            ))),
        }
    };
    let (a, b) = match (&args.a, &args.b) {
        (Some(a), Some(b)) => (Version(a.clone()), Version(b.clone())),
        (Some(a), None) => (Version(a.clone()), current().await?),
        (None, _) => {
            let b = current().await?;
            (before(store, &args.id, &b).await?, b)
        }
    };
    let old = store.get_version(&args.id, &a).await?;
    let new = store.get_version(&args.id, &b).await?;
    let change = summarize(Some(&old), &new);
    let (from, to) = (format!("{}@{a}", args.id), format!("{}@{b}", args.id));
    if args.conn.json {
        let diff = unified(&old, &new, &from, &to, false);
        return json(
            io.out,
            &Diffed {
                from,
                to,
                change,
                diff,
            },
        );
    }
    let diff = unified(&old, &new, &from, &to, io.colour);
    write!(io.out, "{diff}")
        .and_then(|()| writeln!(io.out, "{from} -> {to}: {change}"))
        .map_err(io_err("writing the output"))
}

#[cfg(test)]
mod tests {
    use super::unified;

    #[test]
    fn colour_only_when_asked() {
        let (a, b) = ("a = 1\nb = 2\n", "a = 1\nb = 3\n");
        let plain = unified(a, b, "r1@1", "r1@2", false);
        assert!(
            plain.starts_with("--- r1@1\n+++ r1@2\n@@ -1,2 +1,2 @@\n"),
            "{plain}"
        );
        assert!(plain.contains("\n-b = 2\n+b = 3\n") && !plain.contains('\x1b'));
        let coloured = unified(a, b, "r1@1", "r1@2", true);
        assert!(
            coloured.contains("\x1b[31m-b = 2\x1b[0m\n\x1b[32m+b = 3\x1b[0m\n"),
            "{coloured:?}"
        );
    }
}
